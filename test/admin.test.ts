/**
 * The admin API of a real `weft proxy` process (started through the CLI with `--admin-port 0`), in front of
 * a real upstream: what an operator sees from /ready, /server_info, /stats, /clusters, /config_dump,
 * /logging, and what the mutating endpoints do to the running process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import {
  keepAliveAgent, request, simpleBootstrap, startEchoUpstream, startProxyProcess, waitFor, type ProxyProcess,
} from './support/harness.ts';

interface AdminReply { status: number; type: string; body: string }

async function admin(pp: ProxyProcess, path: string, method = 'GET'): Promise<AdminReply> {
  const r = await request(pp.adminPort, { path, method });
  return { status: r.status, type: String(r.headers['content-type'] ?? ''), body: r.body };
}

/** `name: value` lines of /stats text output, for counters and gauges. */
function statLines(body: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of body.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 2));
  }
  return m;
}

/** simpleBootstrap plus a second cluster `spare` whose only endpoint is marked UNHEALTHY. */
function withSpareCluster(port: number): string {
  return simpleBootstrap([port]) + `
    - name: spare
      connect_timeout: 1s
      load_assignment:
        cluster_name: spare
        endpoints:
          - lb_endpoints:
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
                health_status: UNHEALTHY
`;
}

/** True when a TCP connection to 127.0.0.1:`port` is refused. */
async function refused(port: number): Promise<boolean> {
  const s = net.connect(port, '127.0.0.1');
  try {
    await once(s, 'connect');
    return false;
  } catch {
    return true;
  } finally {
    s.destroy();
  }
}

test('the CLI reports its admin port on stderr and /ready, /server_info, /logging answer', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const pp = await startProxyProcess(t, simpleBootstrap([up.port]));
  assert.match(pp.stderr(), /^weft: admin on port \d+$/m);
  assert.ok(pp.adminPort > 0);
  assert.ok(pp.ports.get('main')! > 0);

  assert.deepEqual(await admin(pp, '/ready'), { status: 200, type: 'text/plain; charset=UTF-8', body: 'LIVE\n' });
  const info = await admin(pp, '/server_info');
  assert.equal(info.status, 200);
  assert.equal(info.type, 'application/json');
  const si = JSON.parse(info.body);
  assert.equal(si.state, 'LIVE');
  assert.match(si.version, /^weft\/\d+\.\d+\.\d+\//);
  assert.match(si.uptime_current_epoch, /^\d+s$/);

  const logging = await admin(pp, '/logging');
  assert.match(logging.body, /^active loggers:\n/);
  assert.match(logging.body, /^ {2}router: info$/m);
  assert.equal((await admin(pp, '/logging?router=debug', 'POST')).status, 200);
  assert.match((await admin(pp, '/logging')).body, /^ {2}router: debug$/m);
  assert.equal((await admin(pp, '/logging?level=debug')).status, 405, 'changing levels needs POST');
  assert.equal((await admin(pp, '/logging?nosuch=debug', 'POST')).status, 400);
});

test('/stats, /stats/prometheus and /clusters count real traffic under Envoy names', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const pp = await startProxyProcess(t, withSpareCluster(up.port));
  const port = pp.ports.get('main')!;
  for (let i = 0; i < 5; i++) assert.equal((await request(port, { path: `/ok/${i}` })).status, 200);

  const stats = await admin(pp, '/stats');
  assert.equal(stats.status, 200);
  const s = statLines(stats.body);
  assert.equal(s.get('http.main.downstream_rq_total'), '5');
  assert.equal(s.get('http.main.downstream_rq_2xx'), '5');
  assert.equal(s.get('http.main.downstream_rq_4xx'), '0');
  assert.equal(s.get('cluster.backend.upstream_rq_total'), '5');
  assert.equal(s.get('cluster.backend.upstream_rq_200'), '5');
  assert.equal(s.get('cluster.backend.upstream_cx_total'), '1', 'sequential requests share one pooled connection');
  assert.equal(s.get('cluster.backend.upstream_cx_active'), '1', 'the pooled connection stays open');
  assert.match(s.get('cluster.backend.upstream_rq_time') ?? '', /^P0\(nan,[0-9.]+\) P25/, 'a histogram with recorded values');
  assert.match(s.get('http.main.downstream_rq_time') ?? '', /P50\(nan,[0-9.]+\)/);

  // Filters and JSON.
  const filtered = await admin(pp, '/stats?filter=' + encodeURIComponent('^cluster\\.backend\\.upstream_rq_total$'));
  assert.equal(filtered.body, 'cluster.backend.upstream_rq_total: 5\n');
  const json = JSON.parse((await admin(pp, '/stats?format=json&filter=downstream_rq_total')).body);
  assert.ok(json.stats.some((x: { name: string; value: number }) => x.name === 'http.main.downstream_rq_total' && x.value === 5));

  const prom = await admin(pp, '/stats/prometheus');
  assert.equal(prom.status, 200);
  assert.match(prom.type, /^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of prom.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m !== null, `not a Prometheus sample line: ${line}`);
    samples.set(m[1], Number(m[2]));
  }
  assert.equal(samples.get('envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="main"}'), 5);
  assert.equal(samples.get('envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="main"}'), 5);
  assert.equal(samples.get('envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"}'), 5);
  assert.equal(samples.get('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="backend"}'), 5);
  assert.match(prom.body, /^# TYPE envoy_cluster_upstream_rq_time histogram$/m);

  const clusters = await admin(pp, '/clusters');
  const lines = clusters.body.split('\n');
  // An endpoint whose health_status is UNHEALTHY shows Envoy's EDS health flag.
  const spare = `spare::127.0.0.1:${up.port}`;
  assert.ok(lines.includes(`${spare}::health_flags::/failed_eds_health`), clusters.body);
  const spareJson = JSON.parse((await admin(pp, '/clusters?format=json')).body).cluster_statuses[1];
  assert.equal(spareJson.host_statuses[0].health_status.eds_health_status, 'UNHEALTHY');
  assert.equal(spareJson.host_statuses[0].health_status.failed_active_health_check, undefined);
  const host = `backend::127.0.0.1:${up.port}`;
  for (const want of [`${host}::rq_total::5`, `${host}::rq_success::5`, `${host}::rq_error::0`, `${host}::cx_active::1`, `${host}::health_flags::healthy`, 'backend::added_via_api::false']) {
    assert.ok(lines.includes(want), `missing ${want} in\n${clusters.body}`);
  }
  const cj = JSON.parse((await admin(pp, '/clusters?format=json')).body);
  assert.equal(cj.cluster_statuses[0].name, 'backend');
  assert.equal(cj.cluster_statuses[0].host_statuses[0].address.socket_address.port_value, up.port);
});

test('/config_dump holds the static listener and clusters, and honours resource, name_regex and mask; /listeners names the bound port', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const pp = await startProxyProcess(t, withSpareCluster(up.port));
  const r = await admin(pp, '/config_dump');
  assert.equal(r.status, 200);
  const dump = JSON.parse(r.body) as { configs: { '@type': string; static_listeners?: { listener: { name: string } }[]; static_clusters?: { cluster: { name: string; load_assignment: unknown } }[] }[] };
  const types = dump.configs.map((c) => c['@type']);
  assert.ok(types.includes('type.googleapis.com/envoy.admin.v3.BootstrapConfigDump'));
  const listeners = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump')!.static_listeners!;
  assert.deepEqual(listeners.map((l) => l.listener.name), ['main']);
  const clusters = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump')!.static_clusters!;
  assert.deepEqual(clusters.map((c) => c.cluster.name), ['backend', 'spare']);
  assert.match(JSON.stringify(clusters[0].cluster.load_assignment), new RegExp(`"port_value":${up.port}`));
  const byResource = JSON.parse((await admin(pp, '/config_dump?resource=static_clusters')).body);
  assert.deepEqual(byResource.configs.map((c: { cluster: { name: string } }) => c.cluster.name), ['backend', 'spare']);
  assert.equal((await admin(pp, '/config_dump?resource=nope')).status, 404);
  // name_regex must match the whole name; it filters every resource list.
  const named = JSON.parse((await admin(pp, '/config_dump?resource=static_clusters&name_regex=' + encodeURIComponent('sp.*'))).body);
  assert.deepEqual(named.configs.map((c: { cluster: { name: string } }) => c.cluster.name), ['spare']);
  assert.equal(JSON.parse((await admin(pp, '/config_dump?resource=static_clusters&name_regex=par')).body).configs.length, 0);
  // mask trims each element of the resource (or each top-level config without one).
  const masked = JSON.parse((await admin(pp, '/config_dump?resource=static_clusters&mask=cluster.name,cluster.connect_timeout')).body);
  assert.deepEqual(masked.configs[1], { cluster: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'spare', connect_timeout: '1s' } });
  const top = JSON.parse((await admin(pp, '/config_dump?mask=static_listeners')).body);
  assert.deepEqual(top.configs.map((c: object) => Object.keys(c)), [['@type'], ['@type'], ['@type', 'static_listeners']]);
  assert.equal((await admin(pp, '/listeners')).body, `main::127.0.0.1:${pp.ports.get('main')}\n`);
});

test('POST /healthcheck/fail turns the server state to DRAINING and drain-closes connections; /healthcheck/ok undoes both', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const pp = await startProxyProcess(t, simpleBootstrap([up.port]));
  const port = pp.ports.get('main')!;
  const agent = keepAliveAgent(t, 1);
  assert.notEqual((await request(port, { path: '/', agent })).headers.connection, 'close');
  assert.equal((await admin(pp, '/healthcheck/fail')).status, 405, 'GET does not change state');
  assert.equal((await admin(pp, '/ready')).status, 200);
  assert.equal((await admin(pp, '/healthcheck/fail', 'POST')).body, 'OK\n');
  assert.deepEqual(await admin(pp, '/ready'), { status: 503, type: 'text/plain; charset=UTF-8', body: 'DRAINING\n' });
  assert.equal(JSON.parse((await admin(pp, '/server_info')).body).state, 'DRAINING');
  // Traffic still flows, but (as Envoy's drain manager does while health checks fail) connections close
  // after their response so clients move elsewhere.
  const during = await request(port, { path: '/', agent });
  assert.equal(during.status, 200);
  assert.equal(during.headers.connection, 'close');
  await admin(pp, '/healthcheck/ok', 'POST');
  assert.equal((await admin(pp, '/ready')).body, 'LIVE\n');
  assert.notEqual((await request(port, { path: '/', agent })).headers.connection, 'close');
});

test('POST /drain_listeners?inboundonly leaves listeners without traffic_direction INBOUND open', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const pp = await startProxyProcess(t, simpleBootstrap([up.port]));
  const port = pp.ports.get('main')!;
  assert.equal((await admin(pp, '/drain_listeners?inboundonly', 'POST')).status, 200);
  const r = await request(port, { path: '/', agent: keepAliveAgent(t, 1) });
  assert.equal(r.status, 200);
  assert.notEqual(r.headers.connection, 'close');
  assert.equal(await refused(port), false);
});

test('POST /drain_listeners refuses new connections and lets the request in flight complete', async (t) => {
  let release: (() => void) | null = null;
  const up = await startEchoUpstream(t, 'a');
  up.server.removeAllListeners('request');
  up.server.on('request', (req, res) => {
    if (req.url === '/slow') { release = () => res.end('finished after drain'); return; }
    res.end('quick');
  });
  const pp = await startProxyProcess(t, simpleBootstrap([up.port]));
  const port = pp.ports.get('main')!;
  const inFlight = request(port, { path: '/slow' });
  await waitFor(() => release !== null, 'the slow request at the upstream');
  const r = await admin(pp, '/drain_listeners', 'POST');
  assert.deepEqual([r.status, r.body], [200, 'OK\n']);
  assert.equal(await refused(port), true, 'new connections are refused after the drain');
  release!();
  const done = await inFlight;
  assert.equal(done.status, 200);
  assert.equal(done.body, 'finished after drain');
  assert.equal(done.headers.connection, 'close', 'a draining HTTP/1.1 connection closes after its response');
  assert.equal((await admin(pp, '/ready')).status, 200, 'the admin API keeps answering');
});

test('POST /quitquitquit answers OK and the process exits with status 0', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const pp = await startProxyProcess(t, simpleBootstrap([up.port]));
  assert.equal((await admin(pp, '/quitquitquit')).status, 405);
  const r = await admin(pp, '/quitquitquit', 'POST');
  assert.deepEqual([r.status, r.body], [200, 'OK\n']);
  const code = await pp.exited;
  assert.deepEqual(code, { code: 0, signal: null });
});
