/**
 * Invalid configuration through the real CLI (`weft validate`, `weft proxy` as child processes): each bad
 * config gets one clear error on stderr naming what is wrong and where, a non-zero exit code, and nothing
 * is left listening.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadPort, portIsFree } from './support/harness.ts';

const REPO = join(import.meta.dirname, '..');
const WEFT = join(REPO, 'src', 'cli', 'weft.ts');
const HCM = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string }

/** Runs `weft <args>` to completion; a run that does not exit within `timeoutMs` is killed and fails the test (a hang). */
function weft(t: TestContext, args: string[], timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WEFT, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`weft ${args.join(' ')} did not exit (hang); stderr: ${stderr}`)); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bad-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeConfig(t: TestContext, text: string, name = 'bootstrap.yaml'): string {
  const file = join(tempDir(t), name);
  writeFileSync(file, text);
  return file;
}

const LISTENER = (name: string, port: number, hcmExtra = '', routeExtra = '', matchExtra = '', routerExtra = '') => `
    - name: ${name}
      address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: ${name}${hcmExtra}
                route_config:
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: /${matchExtra} }
                          route: { cluster: backend${routeExtra} }
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router${routerExtra} }`;

const CLUSTERS = (extra = '') => `
  clusters:
    - name: backend
      type: STATIC
      connect_timeout: 1s${extra}
      load_assignment:
        cluster_name: backend
        endpoints:
          - lb_endpoints:
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9 } } }
`;

const bootstrap = (listeners: string, clusterExtra = '') => `static_resources:\n  listeners:${listeners}${CLUSTERS(clusterExtra)}`;

/** Asserts the run failed cleanly: non-zero exit, no crash trace, exactly one error line that contains every `needles`. */
function assertRejected(r: Run, needles: string[]): void {
  assert.equal(r.signal, null, `killed by ${r.signal}`);
  assert.notEqual(r.code, 0, `exit code 0; stderr: ${r.stderr}`);
  assert.equal(r.code, 1);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one error line, got:\n${r.stderr}`);
  assert.match(lines[0], /^weft: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'a stack trace means a crash, not a config error');
  for (const n of needles) assert.ok(lines[0].includes(n), `error should mention ${JSON.stringify(n)}:\n${lines[0]}`);
  assert.equal(r.stdout, '');
}

/** Each invalid config, with what the one error line must contain. `port` is the listener's port (checked free afterwards). */
interface Case { name: string; config: (port: number) => string; needles: string[]; json?: boolean }

const cases: Case[] = [
  {
    name: 'invalid YAML names file:line:column',
    config: (p) => bootstrap(LISTENER('main', p)).replace('stat_prefix: main', 'stat_prefix: main\n                 bad: ['),
    needles: ['bootstrap.yaml:10:'],
  },
  {
    name: 'invalid JSON names file:line:column',
    config: (p) => `{"static_resources": {"listeners": [{"name": "main", "address": {"socket_address": {"address": "127.0.0.1", "port_value": ${p}}}},\n  ]}}`,
    needles: ['bootstrap.json:2:3'],
    json: true,
  },
  {
    name: 'duplicate YAML key',
    config: (p) => bootstrap(LISTENER('main', p)).replace('connect_timeout: 1s', 'connect_timeout: 1s\n      connect_timeout: 2s'),
    needles: ['duplicate key', 'connect_timeout', 'bootstrap.yaml:'],
  },
  {
    name: 'unknown field names the full field path',
    config: (p) => bootstrap(LISTENER('main', p, '\n                bogus_field: 1')),
    needles: [`${HCM}.bogus_field`, 'unknown field', 'bootstrap.yaml:'],
  },
  {
    name: 'wrong type',
    config: (p) => bootstrap(LISTENER('main', p), '\n      per_connection_buffer_limit_bytes: lots'),
    needles: ['static_resources.clusters[0].per_connection_buffer_limit_bytes', 'expected an integer', '"lots"'],
  },
  {
    name: 'a string where a list belongs',
    config: (p) => bootstrap(LISTENER('main', p)).replace('domains: ["*"]', 'domains: "*"'),
    needles: [`${HCM}.route_config.virtual_hosts[0].domains`, 'expected a list'],
  },
  {
    name: 'route to an undefined cluster',
    config: (p) => bootstrap(LISTENER('main', p)).replace('cluster: backend }', 'cluster: nowhere }'),
    needles: [`${HCM}.route_config.virtual_hosts[0].routes[0].route.cluster`, 'nowhere'],
  },
  {
    name: 'duplicate listener name',
    config: (p) => bootstrap(LISTENER('main', p) + LISTENER('main', p + 1)),
    needles: ['static_resources.listeners[1].name', 'duplicate listener name "main"'],
  },
  {
    name: 'duplicate listener address',
    config: (p) => bootstrap(LISTENER('main', p) + LISTENER('second', p)),
    needles: ['static_resources.listeners[1].address', `duplicate listener address 127.0.0.1:`],
  },
  {
    name: 'unsupported-but-real Envoy field on the router filter (suppress_envoy_headers)',
    config: (p) => bootstrap(LISTENER('main', p, '', '', '', ', suppress_envoy_headers: true')),
    needles: [`${HCM}.http_filters[0].typed_config.suppress_envoy_headers`, 'not supported'],
  },
  {
    name: 'unsupported-but-real Envoy field on a route match (runtime_fraction)',
    config: (p) => bootstrap(LISTENER('main', p, '', '', ', runtime_fraction: { default_value: { numerator: 50 } }')),
    needles: [`${HCM}.route_config.virtual_hosts[0].routes[0].match.runtime_fraction`, 'not supported'],
  },
  {
    name: 'unknown @type in typed_config',
    config: (p) => bootstrap(LISTENER('main', p)).replace('envoy.extensions.filters.http.router.v3.Router', 'envoy.extensions.filters.http.nope.v3.Nope'),
    needles: [`${HCM}.http_filters[0].typed_config`, 'type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope'],
  },
  {
    name: 'negative duration (cluster connect_timeout)',
    config: (p) => bootstrap(LISTENER('main', p)).replace('connect_timeout: 1s', 'connect_timeout: -1s'),
    needles: ['static_resources.clusters[0].connect_timeout', 'negative'],
  },
  {
    name: 'negative duration (route timeout)',
    config: (p) => bootstrap(LISTENER('main', p, '', ', timeout: -0.5s')),
    needles: [`${HCM}.route_config.virtual_hosts[0].routes[0].route.timeout`, 'negative'],
  },
  {
    name: 'negative duration (stream_idle_timeout)',
    config: (p) => bootstrap(LISTENER('main', p, '\n                stream_idle_timeout: -2s')),
    needles: [`${HCM}.stream_idle_timeout`, 'negative'],
  },
  {
    name: 'max_headers_count of 0',
    config: (p) => bootstrap(LISTENER('main', p, '\n                common_http_protocol_options: { max_headers_count: 0 }')),
    needles: [`${HCM}.common_http_protocol_options.max_headers_count`, 'at least 1'],
  },
  {
    name: 'a duration that is not a duration',
    config: (p) => bootstrap(LISTENER('main', p)).replace('connect_timeout: 1s', 'connect_timeout: 5 seconds'),
    needles: ['static_resources.clusters[0].connect_timeout', 'duration'],
  },
];

describe('invalid config is rejected whole, with the path to the bad field', { concurrency: 4 }, () => {
  for (const c of cases) {
    for (const cmd of ['validate', 'proxy'] as const) {
      test(`weft ${cmd}: ${c.name}`, async (t) => {
        const port = await deadPort();
        const file = writeConfig(t, c.config(port), c.json ? 'bootstrap.json' : 'bootstrap.yaml');
        const r = await weft(t, cmd === 'validate' ? ['validate', '-c', file] : ['proxy', '-c', file, '--admin-port', '0']);
        assertRejected(r, c.needles);
        assert.ok(await portIsFree(port), `port ${port} is still bound after the rejected config`);
      });
    }
  }
});

describe('weft proxy fails cleanly when it cannot bind', { concurrency: 2 }, () => {
  test('a listener port already in use: clear error, exit 1, the other listener is released', async (t) => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => taken.close(() => r())));
    const busy = (taken.address() as net.AddressInfo).port;
    const first = await deadPort();
    // The first listener binds fine; the second fails: the first must not stay bound.
    const file = writeConfig(t, bootstrap(LISTENER('first', first) + LISTENER('second', busy)));
    const r = await weft(t, ['proxy', '-c', file, '--admin-port', '0']);
    assertRejected(r, ['static_resources.listeners[1]', 'listener "second"', `127.0.0.1:${busy}`, 'address already in use']);
    assert.ok(await portIsFree(first), 'the listener that did bind was released');
  });

  test('the admin port already in use: clear error, exit 1, listeners released', async (t) => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => taken.close(() => r())));
    const busy = (taken.address() as net.AddressInfo).port;
    const port = await deadPort();
    const file = writeConfig(t, bootstrap(LISTENER('main', port)));
    const r = await weft(t, ['proxy', '-c', file, '--admin-port', String(busy)]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /admin/);
    assert.match(r.stderr, new RegExp(String(busy)));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.ok(await portIsFree(port));
  });

  test('a missing config file: clear error, exit 1', async (t) => {
    const r = await weft(t, ['validate', '-c', join(tempDir(t), 'nope.yaml')]);
    assertRejected(r, ['nope.yaml', 'ENOENT']);
  });

  test('the same config, fixed, is accepted (control)', async (t) => {
    const port = await deadPort();
    const file = writeConfig(t, bootstrap(LISTENER('main', port)));
    const r = await weft(t, ['validate', '-c', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configuration OK/);
  });

  test('a valid config runs (control): weft proxy binds, and SIGTERM releases the port with exit 0', async (t) => {
    // Port 0: a port picked in advance could be taken by a concurrent test before the proxy binds it.
    const file = writeConfig(t, bootstrap(LISTENER('main', 0)));
    const child = spawn(process.execPath, [WEFT, 'proxy', '-c', file, '--admin-port', '0'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 15_000;
    let m: RegExpMatchArray | null;
    while ((m = /listener main on 127\.0\.0\.1:(\d+)/.exec(stderr)) === null) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`the proxy did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const port = Number(m[1]);
    assert.equal(await portIsFree(port), false, 'the listener is bound');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(await portIsFree(port));
  });
});
