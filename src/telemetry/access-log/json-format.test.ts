import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../xds/config-error.ts';
import { compileJsonFormat } from './json-format.ts';
import { exampleStreamInfo, failedStreamInfo } from './test-stream-info.ts';

test('a JSON format renders one line with typed values in config order', () => {
  const f = compileJsonFormat({
    start: '%START_TIME%',
    method: '%REQ(:METHOD)%',
    status: '%RESPONSE_CODE%',
    duration: '%DURATION%',
    bytes_in: '%BYTES_RECEIVED%',
    bytes_out: '%BYTES_SENT%',
    flags: '%RESPONSE_FLAGS%',
    upstream: '%UPSTREAM_HOST%',
    port: '%DOWNSTREAM_REMOTE_PORT%',
  }, 'json_format');
  const line = f(exampleStreamInfo());
  assert.equal(
    line,
    '{"start":"2016-04-15T20:17:00.310Z","method":"POST","status":204,"duration":226,"bytes_in":154,"bytes_out":0,' +
      '"flags":"-","upstream":"10.0.2.1:80","port":51234}\n',
  );
  assert.deepEqual(JSON.parse(line).status, 204);
});

test('unset values are null, and dropped with omit_empty_values', () => {
  const format = { host: '%UPSTREAM_HOST%', ua: '%REQ(USER-AGENT)%', code: '%RESPONSE_CODE%', rq: '%REQUEST_DURATION%' };
  assert.equal(compileJsonFormat(format, 'p')(failedStreamInfo()), '{"host":null,"ua":null,"code":503,"rq":null}\n');
  assert.equal(compileJsonFormat(format, 'p', { omitEmptyValues: true })(failedStreamInfo()), '{"code":503}\n');
});

test('values mixing text and operators are strings with - for unset operators', () => {
  const f = compileJsonFormat({ summary: '%REQ(:METHOD)% %REQ(:PATH)% -> %RESPONSE_CODE% via %UPSTREAM_HOST%', lit: 'constant', empty: '' }, 'p');
  assert.equal(f(failedStreamInfo()), '{"summary":"GET /nope -> 503 via -","lit":"constant","empty":""}\n');
});

test('nested objects and lists are rendered, and strings are JSON-escaped', () => {
  const info = exampleStreamInfo();
  info.request!.headers.push('x-quote', 'say "hi"\n\\');
  const f = compileJsonFormat({ req: { method: '%REQ(:METHOD)%', quote: '%REQ(X-QUOTE)%' }, codes: ['%RESPONSE_CODE%', 'x', ['%BYTES_SENT%']] }, 'p');
  const line = f(info);
  assert.deepEqual(JSON.parse(line), { req: { method: 'POST', quote: 'say "hi"\n\\' }, codes: [204, 'x', [0]] });
  assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'), 'one line');
});

test('untyped JSON (deprecated json_format) renders every value as a string with - for unset', () => {
  const f = compileJsonFormat({ code: '%RESPONSE_CODE%', host: '%UPSTREAM_HOST%' }, 'p', { typed: false });
  assert.equal(f(failedStreamInfo()), '{"code":"503","host":"-"}\n');
});

test('sort_properties orders keys', () => {
  const f = compileJsonFormat({ b: '%RESPONSE_CODE%', a: { d: 'x', c: 'y' } }, 'p', { sortProperties: true });
  assert.equal(f(failedStreamInfo()), '{"a":{"c":"y","d":"x"},"b":503}\n');
});

test('errors name the key path: unknown operator, non-string leaf', () => {
  assert.throws(() => compileJsonFormat({ outer: { bad: '%NOPE%' } }, 'log_format.json_format'), (e: unknown) =>
    e instanceof ConfigError && e.path === 'log_format.json_format.outer.bad' && /%NOPE%/.test(e.detail));
  assert.throws(() => compileJsonFormat({ n: 5 }, 'log_format.json_format'), (e: unknown) =>
    e instanceof ConfigError && e.path === 'log_format.json_format.n');
  assert.throws(() => compileJsonFormat({ l: ['%RESPONSE_CODE%', true] }, 'j'), (e: unknown) =>
    e instanceof ConfigError && e.path === 'j.l[1]');
});
