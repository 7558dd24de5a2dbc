import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry, fromJson, type JsonValue } from '@bufbuild/protobuf';
import { ConfigError } from '../../xds/config-error.ts';
import { AccessLogSchema, type AccessLog } from '../../xds/gen/envoy/config/accesslog/v3/accesslog_pb.js';
import { FileAccessLogSchema } from '../../xds/gen/envoy/extensions/access_loggers/file/v3/file_pb.js';
import { StderrAccessLogSchema, StdoutAccessLogSchema } from '../../xds/gen/envoy/extensions/access_loggers/stream/v3/stream_pb.js';
import { FluentdAccessLogConfigSchema } from '../../xds/gen/envoy/extensions/access_loggers/fluentd/v3/fluentd_pb.js';
import { StatsStore } from '../stats.ts';
import { compileAccessLogs, type AccessLogger } from './access-log.ts';
import { exampleStreamInfo, failedStreamInfo } from './test-stream-info.ts';

const registry = createRegistry(FileAccessLogSchema, StdoutAccessLogSchema, StderrAccessLogSchema, FluentdAccessLogConfigSchema);
const FILE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';

function accessLogs(json: JsonValue[]): AccessLog[] {
  return json.map((j) => fromJson(AccessLogSchema, j, { registry }));
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-access-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function closeAll(loggers: AccessLogger[]): Promise<void> {
  await Promise.all(loggers.map((l) => l.close()));
}

test('a file access log writes formatted lines to its file', async (t) => {
  const file = join(tempDir(t), 'access.log');
  const loggers = compileAccessLogs(accessLogs([{
    name: 'envoy.access_loggers.file',
    typed_config: { '@type': FILE, path: file, log_format: { text_format_source: { inline_string: '%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n' } } },
  }]), 'access_log', registry);
  assert.equal(loggers.length, 1);
  assert.equal(loggers[0].name, 'envoy.access_loggers.file');
  loggers[0].log(exampleStreamInfo());
  loggers[0].log(failedStreamInfo());
  await closeAll(loggers);
  assert.equal(readFileSync(file, 'utf8'), 'POST /api/v1/locations?x=1 204 -\nGET /nope 503 UH,URX\n');
});

test('a file access log without a format uses Envoy\'s default format; JSON formats write one object per line', async (t) => {
  const dir = tempDir(t);
  const loggers = compileAccessLogs(accessLogs([
    { typed_config: { '@type': FILE, path: join(dir, 'default.log') } },
    { typed_config: { '@type': FILE, path: join(dir, 'json.log'), log_format: { json_format: { code: '%RESPONSE_CODE%', host: '%UPSTREAM_HOST%' }, omit_empty_values: true } } },
    { typed_config: { '@type': FILE, path: join(dir, 'legacy.log'), format: '%PROTOCOL%\n' } },
  ]), 'access_log', registry);
  for (const l of loggers) { l.log(exampleStreamInfo()); l.log(failedStreamInfo()); }
  await closeAll(loggers);
  const lines = readFileSync(join(dir, 'default.log'), 'utf8').split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^\[2016-04-15T20:17:00\.310Z\] "POST \/api\/v1\/locations\?x=1 HTTP\/2" 204 - 154 0 226 100 /);
  assert.equal(readFileSync(join(dir, 'json.log'), 'utf8'), '{"code":204,"host":"10.0.2.1:80"}\n{"code":503}\n');
  assert.equal(readFileSync(join(dir, 'legacy.log'), 'utf8'), 'HTTP/2\nHTTP/1.1\n');
});

test('many lines logged at once arrive complete and in order', async (t) => {
  const file = join(tempDir(t), 'burst.log');
  const [logger] = compileAccessLogs(accessLogs([{
    typed_config: { '@type': FILE, path: file, log_format: { text_format: '%REQ(X-SEQ)%\n' } },
  }]), 'access_log', registry);
  const info = failedStreamInfo();
  const n = 20000;
  for (let i = 0; i < n; i++) {
    info.request!.headers = ['x-seq', String(i)];
    logger.log(info);
  }
  await logger.close();
  const lines = readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, n);
  lines.forEach((l, i) => assert.equal(l, String(i)));
});

test('loggers of one path share the file; closing one leaves the other writing', async (t) => {
  const file = join(tempDir(t), 'shared.log');
  const cfg = (tag: string) => ({ typed_config: { '@type': FILE, path: file, log_format: { text_format: `${tag} %RESPONSE_CODE%\n` } } });
  const [a, b] = compileAccessLogs(accessLogs([cfg('a'), cfg('b')]), 'access_log', registry);
  a.log(failedStreamInfo());
  b.log(failedStreamInfo());
  await a.close();
  await a.close(); // idempotent
  b.log(exampleStreamInfo());
  a.log(exampleStreamInfo()); // closed: ignored
  await b.close();
  assert.equal(readFileSync(file, 'utf8'), 'a 503\nb 503\nb 204\n');
});

test('past the buffer bound lines are dropped whole and counted in access_log.dropped', async (t) => {
  const file = join(tempDir(t), 'bounded.log');
  const stats = new StatsStore();
  const [logger] = compileAccessLogs(accessLogs([{
    typed_config: { '@type': FILE, path: file, log_format: { text_format: '0123456789%RESPONSE_CODE%\n' } },
  }]), 'access_log', registry, { stats, maxBufferedBytes: 1000 });
  // All synchronous: no write can complete in between, so exactly 1000/14 lines fit.
  for (let i = 0; i < 500; i++) logger.log(failedStreamInfo());
  await logger.close();
  const content = readFileSync(file, 'utf8');
  const kept = Math.floor(1000 / 14);
  assert.equal(content, '0123456789503\n'.repeat(kept));
  assert.equal(stats.counter('access_log.dropped').value, 500 - kept);
});

test('filters select which streams are logged', async (t) => {
  const dir = tempDir(t);
  const log = (name: string, filter: JsonValue) => ({ filter, typed_config: { '@type': FILE, path: join(dir, name), log_format: { text_format: '%RESPONSE_CODE%\n' } } });
  const ge500 = { status_code_filter: { comparison: { op: 'GE', value: { default_value: 500, runtime_key: 'access_log.min_status' } } } };
  const eq204 = { status_code_filter: { comparison: { op: 'EQ', value: { default_value: 204, runtime_key: 'k' } } } };
  const slow = { duration_filter: { comparison: { op: 'GE', value: { default_value: 100, runtime_key: 'k' } } } };
  const loggers = compileAccessLogs(accessLogs([
    log('errors.log', ge500),
    log('flags.log', { response_flag_filter: { flags: ['UH'] } }),
    log('anyflag.log', { response_flag_filter: {} }),
    log('or.log', { or_filter: { filters: [eq204, ge500] } }),
    log('and.log', { and_filter: { filters: [slow, { not_health_check_filter: {} }] } }),
    log('le.log', { status_code_filter: { comparison: { op: 'LE', value: { default_value: 299, runtime_key: 'k' } } } }),
  ]), 'access_log', registry);
  for (const l of loggers) { l.log(exampleStreamInfo()); l.log(failedStreamInfo()); }
  await closeAll(loggers);
  const read = (n: string) => readFileSync(join(dir, n), 'utf8');
  assert.equal(read('errors.log'), '503\n');
  assert.equal(read('flags.log'), '503\n');
  assert.equal(read('anyflag.log'), '503\n');
  assert.equal(read('or.log'), '204\n503\n');
  assert.equal(read('and.log'), '204\n'); // 226 ms vs 1 ms
  assert.equal(read('le.log'), '204\n');
});

test('the stdout access log writes to the process\'s standard output', async () => {
  const script = `
    import { createRegistry, fromJson } from '@bufbuild/protobuf';
    import { AccessLogSchema } from './src/xds/gen/envoy/config/accesslog/v3/accesslog_pb.js';
    import { StdoutAccessLogSchema, StderrAccessLogSchema } from './src/xds/gen/envoy/extensions/access_loggers/stream/v3/stream_pb.js';
    import { compileAccessLogs } from './src/telemetry/access-log/access-log.ts';
    import { failedStreamInfo } from './src/telemetry/access-log/test-stream-info.ts';
    const registry = createRegistry(StdoutAccessLogSchema, StderrAccessLogSchema);
    const logs = [
      { typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
          log_format: { text_format_source: { inline_string: 'out %RESPONSE_CODE% %RESPONSE_FLAGS%\\n' } } } },
      { typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog',
          log_format: { json_format: { code: '%RESPONSE_CODE%' } } } },
    ].map((j) => fromJson(AccessLogSchema, j, { registry }));
    const loggers = compileAccessLogs(logs, 'access_log', registry);
    for (let i = 0; i < 3; i++) for (const l of loggers) l.log(failedStreamInfo());
    await Promise.all(loggers.map((l) => l.close()));
  `;
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--test'));
  const child = spawn(process.execPath, [...execArgv, '--input-type=module', '-e', script], { cwd: new URL('../../../', import.meta.url) });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, err);
  assert.equal(out, 'out 503 UH,URX\n'.repeat(3));
  assert.ok(err.includes('{"code":503}\n{"code":503}\n{"code":503}\n'), err);
});

function assertConfigError(json: JsonValue[], path: string, detail: RegExp): void {
  assert.throws(() => compileAccessLogs(accessLogs(json), 'access_log', registry), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.path, path);
    assert.match(e.detail, detail);
    return true;
  });
}

test('invalid access log configs are ConfigErrors with field paths', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'x.log');
  assertConfigError([{ typed_config: { '@type': FILE, path, log_format: { text_format: 'ok\n' } } },
    { typed_config: { '@type': FILE, path, log_format: { text_format: '%BOGUS%' } } }],
  'access_log[1].typed_config.log_format.text_format', /unknown command operator %BOGUS%/);
  assertConfigError([{ typed_config: { '@type': FILE, path: join(dir, 'missing-dir', 'x.log') } }],
    'access_log[0].typed_config.path', /cannot open access log file/);
  assertConfigError([{ typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.fluentd.v3.FluentdAccessLogConfig', cluster: 'c', tag: 't', stat_prefix: 's' } }],
    'access_log[0].typed_config', /not supported/);
  assertConfigError([{ name: 'no-config' }], 'access_log[0]', /typed_config is required/);
  assertConfigError([{ filter: { header_filter: { header: { name: 'x' } } }, typed_config: { '@type': FILE, path } }],
    'access_log[0].filter', /header_filter|headerFilter/);
  assertConfigError([{ filter: { and_filter: { filters: [{ not_health_check_filter: {} }] } }, typed_config: { '@type': FILE, path } }],
    'access_log[0].filter.and_filter.filters', /at least 2/);
  assertConfigError([{ filter: { response_flag_filter: { flags: ['UH', 'XX'] } }, typed_config: { '@type': FILE, path } }],
    'access_log[0].filter.response_flag_filter.flags[1]', /unknown response flag 'XX'/);
  assertConfigError([{ filter: { status_code_filter: { comparison: { op: 'GE' } } }, typed_config: { '@type': FILE, path } }],
    'access_log[0].filter.status_code_filter.comparison.value', /required/);
});
