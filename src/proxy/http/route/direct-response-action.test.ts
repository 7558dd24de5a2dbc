import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsonValue } from '@bufbuild/protobuf';
import { ConfigError } from '../../../xds/config-error.ts';
import type { DirectResponseAction } from './direct-response-action.ts';
import { routesTable } from './testing.ts';

function direct(json: JsonValue, extra: Record<string, JsonValue> = {}): DirectResponseAction {
  const entry = routesTable([{ name: 'r', match: { prefix: '/' }, direct_response: json }], extra).virtualHosts[0].routes[0];
  assert.equal(entry.action.kind, 'direct_response');
  return entry.action as DirectResponseAction;
}

function error(json: JsonValue, extra: Record<string, JsonValue> = {}): ConfigError {
  try {
    direct(json, extra);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail('expected a ConfigError');
}

describe('direct_response', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-route-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('status without a body', () => {
    const d = direct({ status: 204 });
    assert.equal(d.status, 204);
    assert.equal(d.body, '');
    assert.equal(d.bodyBytes.length, 0);
  });

  it('inline_string and inline_bytes bodies', () => {
    assert.equal(direct({ status: 200, body: { inline_string: 'héllo\n' } }).body, 'héllo\n');
    const b = direct({ status: 503, body: { inline_bytes: Buffer.from([0, 1, 255]).toString('base64') } });
    assert.deepEqual([...b.bodyBytes], [0, 1, 255]);
  });

  it('reads a filename body once, at compile time', () => {
    const f = join(dir, 'body.txt');
    writeFileSync(f, 'from file');
    const d = direct({ status: 200, body: { filename: f } });
    writeFileSync(f, 'changed later');
    assert.equal(d.body, 'from file');
  });

  it('rejects a missing file, an oversized body and a bad status', () => {
    assert.equal(error({ status: 200, body: { filename: join(dir, 'nope') } }).path, 'virtual_hosts[0].routes[0].direct_response.body.filename');
    assert.match(error({ status: 200, body: { inline_string: 'x'.repeat(4097) } }).message, /4097 bytes; the maximum is 4096/);
    assert.doesNotThrow(() => direct({ status: 200, body: { inline_string: 'x'.repeat(5000) } }, { max_direct_response_body_size_bytes: 8192 }));
    assert.equal(error({ status: 99 }).path, 'virtual_hosts[0].routes[0].direct_response.status');
    assert.equal(error({ status: 600 }).path, 'virtual_hosts[0].routes[0].direct_response.status');
  });
});
