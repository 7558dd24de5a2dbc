/**
 * Interop: real proxyless gRPC clients against `weft control --xds-dir`, calling `xds:///echo` and observed
 * at real grpc-js servers — @grpc/grpc-js-xds (Node) and Debian's python3-grpcio (C core). Covers
 * header-match routing, weighted clusters, fault abort, an EDS change made by editing a file in the watched
 * directory, and ring hash with a header hash policy (grpc-js only: grpcio 1.51 crashes on RING_HASH + hash_policy).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBinomial, countBy } from './support/harness.ts';
import { LineClient, startControl, startWhoServers, tempDir, writeResourceFile, type ControlProcess } from './support/xds-control.ts';

const T = 'type.googleapis.com/envoy.';
const LOCALITY = { region: 'test-region', zone: 'test-zone' };

function edsCluster(name: string, lbPolicy = 'ROUND_ROBIN'): object {
  return { '@type': `${T}config.cluster.v3.Cluster`, name, type: 'EDS', lb_policy: lbPolicy, eds_cluster_config: { service_name: name, eds_config: { ads: {}, resource_api_version: 'V3' } } };
}
function assignment(name: string, ports: number[]): object {
  return {
    '@type': `${T}config.endpoint.v3.ClusterLoadAssignment`, cluster_name: name,
    endpoints: [{ locality: LOCALITY, load_balancing_weight: 1, lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }],
  };
}

/** The `echo` service: listener + routes, clusters, endpoints, in three files (as a user would split them). */
function writeEchoMesh(dir: string, ports: Map<string, number>, opts: { ringHash: boolean }): void {
  const p = (n: string): number => ports.get(n)!;
  const routes: object[] = [
    // string_match, the current form: weft control sends old gRPC clients (Debian's grpcio 1.51) the deprecated
    // exact_match they understand (src/xds/server/client-compat.ts); grpc-js-xds 1.14 gets it as written.
    { match: { prefix: '', headers: [{ name: 'x-canary', string_match: { exact: 'true' } }] }, route: { cluster: 'canary' } },
    { match: { prefix: '', headers: [{ name: 'x-split', present_match: true }] }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: 50 }, { name: 'b', weight: 50 }] } } },
  ];
  // Fault injection (gRFC A33): the HCM lists the fault filter, this route turns it on with an abort for every call.
  routes.push({
    match: { prefix: '', headers: [{ name: 'x-fault', string_match: { exact: 'abort' } }] }, route: { cluster: 'main' },
    typed_per_filter_config: { 'envoy.filters.http.fault': {
      '@type': `${T}extensions.filters.http.fault.v3.HTTPFault`,
      abort: { grpc_status: 14, percentage: { numerator: 100, denominator: 'HUNDRED' } },
    } },
  });
  if (opts.ringHash) routes.push({ match: { prefix: '', headers: [{ name: 'x-user', present_match: true }] }, route: { cluster: 'hashed', hash_policy: [{ header: { header_name: 'x-user' } }] } });
  routes.push({ match: { prefix: '' }, route: { cluster: 'main' } });
  writeResourceFile(dir, 'listeners.json', {
    resources: [
      {
        '@type': `${T}config.listener.v3.Listener`, name: 'echo',
        api_listener: { api_listener: {
          '@type': `${T}extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
          rds: { route_config_name: 'echo-routes', config_source: { ads: {}, resource_api_version: 'V3' } },
          http_filters: [
            { name: 'envoy.filters.http.fault', typed_config: { '@type': `${T}extensions.filters.http.fault.v3.HTTPFault` } },
            { name: 'envoy.filters.http.router', typed_config: { '@type': `${T}extensions.filters.http.router.v3.Router` } },
          ],
        } },
      },
      { '@type': `${T}config.route.v3.RouteConfiguration`, name: 'echo-routes', virtual_hosts: [{ name: 'echo', domains: ['*'], routes }] },
    ],
  });
  const clusters = [edsCluster('main'), edsCluster('canary'), edsCluster('a'), edsCluster('b')];
  if (opts.ringHash) clusters.push(edsCluster('hashed', 'RING_HASH'));
  writeResourceFile(dir, 'clusters.yaml', `# clusters, in YAML\n${JSON.stringify({ resources: clusters })}\n`);
  writeEchoEndpoints(dir, ports, 's1', opts);
  void p;
}

function writeEchoEndpoints(dir: string, ports: Map<string, number>, main: string, opts: { ringHash: boolean }): void {
  const p = (n: string): number => ports.get(n)!;
  const list = [assignment('main', [p(main)]), assignment('canary', [p('s2')]), assignment('a', [p('s1')]), assignment('b', [p('s2')])];
  if (opts.ringHash) list.push(assignment('hashed', [p('s1'), p('s2'), p('s3')]));
  writeResourceFile(dir, 'endpoints.json', { resources: list });
}

function bootstrap(xdsPort: number, nodeId: string): object {
  return {
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: nodeId, cluster: 'interop', locality: LOCALITY },
  };
}

interface SyncEntry { node_id: string; user_agent: string; stream_type: string; types: Record<string, { acked_version: string; sent_version: string; nacks: number; last_nack: unknown }> }

/** The syncz entry of `nodeId`, once it has ACKed every type it was sent. */
async function assertAllAcked(control: ControlProcess, nodeId: string): Promise<SyncEntry> {
  const entries = await control.debug('/debug/syncz') as SyncEntry[];
  const mine = entries.find((e) => e.node_id === nodeId);
  assert.ok(mine, `syncz lists ${nodeId}: ${JSON.stringify(entries)}`);
  assert.deepEqual(Object.keys(mine.types).sort(), [`${T}config.cluster.v3.Cluster`, `${T}config.endpoint.v3.ClusterLoadAssignment`, `${T}config.listener.v3.Listener`, `${T}config.route.v3.RouteConfiguration`].sort());
  for (const [type, s] of Object.entries(mine.types)) {
    assert.equal(s.nacks, 0, `${nodeId} NACKed ${type}: ${JSON.stringify(s.last_nack)}`);
    assert.equal(s.acked_version, s.sent_version, `${nodeId} ACKed the latest ${type}`);
  }
  return mine;
}

async function exerciseClient(t: TestContext, control: ControlProcess, ports: Map<string, number>, client: LineClient, nodeId: string, opts: { ringHash: boolean }): Promise<void> {
  // The first call waits for LDS → RDS → CDS → EDS; the default route goes to `main` (s1).
  assert.deepEqual(await client.run({ calls: 5 }), ['s1', 's1', 's1', 's1', 's1']);

  await t.test('header match routes x-canary: true to the canary cluster', async () => {
    assert.deepEqual(await client.run({ calls: 5, metadata: { 'x-canary': 'true' } }), ['s2', 's2', 's2', 's2', 's2']);
    assert.deepEqual(await client.run({ calls: 3, metadata: { 'x-canary': 'false' } }), ['s1', 's1', 's1']);
  });

  await t.test('a route with a fault abort fails calls with the configured gRPC status, others pass', async () => {
    const servers = await client.run({ calls: 4, metadata: { 'x-fault': 'abort' } });
    for (const s of servers) assert.match(s, /^error: 14\b/, `aborted with UNAVAILABLE: ${servers}`);
    assert.deepEqual(await client.run({ calls: 2, metadata: { 'x-fault': 'no' } }), ['s1', 's1']);
  });

  await t.test('weighted clusters split traffic 50/50', async () => {
    const n = 200;
    const counts = countBy(await client.run({ calls: n, metadata: { 'x-split': '1' } }), (s) => s);
    assert.deepEqual([...counts.keys()].sort(), ['s1', 's2']);
    assertBinomial(counts.get('s1')!, n, 0.5, 'calls to cluster a');
  });

  if (opts.ringHash) {
    await t.test('ring hash with a header hash policy pins each user to one endpoint', async () => {
      // grpc-js's ring hash can strand the first pick that finds its endpoint IDLE until the call's deadline
      // (grpc/grpc-node#2807), so connect every user's endpoint first with short-deadline calls.
      for (let round = 0; round < 20; round++) {
        let failed = 0;
        for (let u = 0; u < 12; u++) {
          const [s] = await client.run({ calls: 1, deadlineMs: 300, metadata: { 'x-user': `user-${u}` } });
          if (s.startsWith('error')) failed++;
        }
        if (failed === 0) break;
      }
      const chosen = new Set<string>();
      for (let u = 0; u < 12; u++) {
        const servers = await client.run({ calls: 4, metadata: { 'x-user': `user-${u}` } });
        assert.equal(new Set(servers).size, 1, `user-${u} always reaches the same endpoint: ${servers}`);
        assert.ok(['s1', 's2', 's3'].includes(servers[0]), servers[0]);
        chosen.add(servers[0]);
      }
      assert.ok(chosen.size >= 2, `12 users spread over more than one endpoint: ${[...chosen]}`);
    });
  }

  await t.test('an edited endpoints file moves traffic (EDS update)', async () => {
    const from = control.stderr().length;
    writeEchoEndpoints(control.dir, ports, 's3', opts);
    const servers = await client.run({ until: 's3' });
    assert.equal(servers.at(-1), 's3', `traffic reached s3 after the EDS change: ${servers.slice(-5)}`);
    assert.deepEqual(await client.run({ calls: 5 }), ['s3', 's3', 's3', 's3', 's3']);
    assert.doesNotMatch(control.stderr().slice(from), /NACK/);
    writeEchoEndpoints(control.dir, ports, 's1', opts);
    assert.equal((await client.run({ until: 's1' })).at(-1), 's1');
  });

  await t.test('/debug/syncz shows the client with every type ACKed and no NACK', async () => {
    const entry = await assertAllAcked(control, nodeId);
    assert.equal(entry.stream_type, 'sotw');
    assert.ok(entry.user_agent.length > 0, 'user agent recorded');
  });
}

test('@grpc/grpc-js-xds client against weft control', async (t) => {
  const ports = await startWhoServers(t, ['s1', 's2', 's3']);
  const dir = tempDir(t);
  writeEchoMesh(dir, ports, { ringHash: true });
  const control = await startControl(t, dir);
  const clientScript = new URL('./fixtures/xds-echo-client.ts', import.meta.url).pathname;
  const client = new LineClient(t, process.execPath, [clientScript, 'xds:///echo'], {
    GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap(control.xdsPort, 'grpc-js-client')), GRPC_XDS_BOOTSTRAP: '',
  });
  await exerciseClient(t, control, ports, client, 'grpc-js-client', { ringHash: true });
});

const PYTHON = '/usr/bin/python3';
const hasGrpcio = spawnSync(PYTHON, ['-c', 'import grpc'], { stdio: 'ignore' }).status === 0;

test('Python grpcio (Debian python3-grpcio) client against weft control', { skip: hasGrpcio ? false : `${PYTHON} cannot import grpc: install python3-grpcio (npm test does when run as root)` }, async (t) => {
  const ports = await startWhoServers(t, ['s1', 's2', 's3']);
  const dir = tempDir(t);
  writeEchoMesh(dir, ports, { ringHash: false });
  const control = await startControl(t, dir);
  const bootstrapFile = join(tempDir(t), 'bootstrap.json');
  writeFileSync(bootstrapFile, JSON.stringify(bootstrap(control.xdsPort, 'python-client')));
  const script = new URL('./fixtures/xds_echo_client.py', import.meta.url).pathname;
  const client = new LineClient(t, PYTHON, [script, 'xds:///echo'], { GRPC_XDS_BOOTSTRAP: bootstrapFile, GRPC_XDS_BOOTSTRAP_CONFIG: '' });
  await exerciseClient(t, control, ports, client, 'python-client', { ringHash: false });
});
