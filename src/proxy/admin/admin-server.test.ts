import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsStore } from '../../telemetry/stats.ts';
import { clusterScope } from '../../telemetry/stat-scopes.ts';
import { Host } from '../upstream/host.ts';
import { AdminHttpError, type AdminTarget, type DrainOptions, type LogLevel } from './admin-target.ts';
import { startAdminServer, type AdminServer } from './admin-server.ts';
import { renderClustersJson, renderClustersText, type ClusterView } from './clusters-render.ts';

/** A small in-memory proxy: real StatsStore, recorded calls. */
class FakeProxy implements AdminTarget {
  readonly stats = new StatsStore();
  healthFailing = false;
  isReady = true;
  drains: DrainOptions[] = [];
  quits = 0;
  private onQuit: (() => void) | null = null;
  /** Resolves when quit() has been called. */
  readonly quitCalled = new Promise<void>((resolve) => { this.onQuit = resolve; });
  readonly levels = new Map<string, LogLevel>([['admin', 'info'], ['config', 'info'], ['router', 'warning']]);
  readonly loggers = {
    list: () => [...this.levels],
    setLevel: (name: string, level: LogLevel) => {
      if (!this.levels.has(name)) return false;
      this.levels.set(name, level);
      return true;
    },
    setAllLevels: (level: LogLevel) => { for (const k of this.levels.keys()) this.levels.set(k, level); },
  };
  readonly clusters: ClusterView[] = [{
    name: 'backend',
    addedViaApi: false,
    hosts: [
      { host: new Host('10.0.0.1', 8080, 3, { region: 'eu', zone: 'eu-1a', subZone: '' }), stats: { cx_active: 2, cx_total: 10, rq_total: 42, rq_success: 41, rq_error: 1 } },
      { host: Object.assign(new Host('10.0.0.2', 8080), { healthy: false }), healthFlags: ['failed_outlier_check', 'failed_active_hc'] },
    ],
  }];
  serverInfo() {
    return { version: 'weft/0.1.0', startTimeMs: Date.now() - 5000, node: undefined, commandLineOptions: { serviceCluster: 'web', serviceNode: 'web-1' } };
  }
  clustersText(): string { return renderClustersText(this.clusters); }
  clustersJson(): object { return renderClustersJson(this.clusters) as object; }
  configDump(params: { resource?: string; includeEds: boolean }): object {
    if (params.resource === 'nope') throw new AdminHttpError(404, 'the resource nope does not exist');
    return { configs: [], resource: params.resource ?? null, include_eds: params.includeEds };
  }
  ready(): boolean { return this.isReady; }
  drainListeners(opts: DrainOptions): void { this.drains.push(opts); }
  quit(): void { this.quits++; this.onQuit?.(); }
}

async function withAdmin(fn: (base: string, proxy: FakeProxy) => Promise<void>): Promise<void> {
  const proxy = new FakeProxy();
  const admin: AdminServer = await startAdminServer(proxy, { address: '127.0.0.1', port: 0 });
  try {
    await fn(`http://127.0.0.1:${admin.port}`, proxy);
  } finally {
    await admin.close();
  }
}

async function get(url: string, method = 'GET'): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(url, { method });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
}
const post = (url: string) => get(url, 'POST');

test('GET / and unknown paths list the admin commands', async () => {
  await withAdmin(async (base) => {
    const home = await get(base + '/');
    assert.equal(home.status, 200);
    assert.match(home.body, /^admin commands are:\n/);
    assert.match(home.body, /^ {2}\/quitquitquit \(POST\): exit the server$/m);
    assert.match(home.body, /^ {2}\/ready: print server state/m);
    assert.match(home.body, /^ {6}usedonly: /m);
    const missing = await get(base + '/nope');
    assert.equal(missing.status, 404);
    assert.match(missing.body, /^invalid path\. admin commands are:/);
  });
});

test('/ready answers LIVE, DRAINING while health checks fail, PRE_INITIALIZING before ready', async () => {
  await withAdmin(async (base, proxy) => {
    assert.deepEqual(await get(base + '/ready'), { status: 200, body: 'LIVE\n', type: 'text/plain; charset=UTF-8' });
    assert.deepEqual(await post(base + '/healthcheck/fail'), { status: 200, body: 'OK\n', type: 'text/plain; charset=UTF-8' });
    assert.equal(proxy.healthFailing, true);
    assert.deepEqual(await get(base + '/ready'), { status: 503, body: 'DRAINING\n', type: 'text/plain; charset=UTF-8' });
    await post(base + '/healthcheck/ok');
    assert.equal(proxy.healthFailing, false);
    proxy.isReady = false;
    assert.deepEqual(await get(base + '/ready'), { status: 503, body: 'PRE_INITIALIZING\n', type: 'text/plain; charset=UTF-8' });
  });
});

test('mutating endpoints refuse GET with 405 and change nothing', async () => {
  await withAdmin(async (base, proxy) => {
    for (const path of ['/healthcheck/fail', '/quitquitquit', '/drain_listeners', '/reset_counters', '/logging?level=debug']) {
      const r = await get(base + path);
      assert.equal(r.status, 405, path);
      assert.equal(r.body, 'Method GET not allowed, POST required.');
    }
    assert.equal(proxy.healthFailing, false);
    assert.equal(proxy.quits, 0);
    assert.equal(proxy.drains.length, 0);
    assert.equal(proxy.levels.get('admin'), 'info');
  });
});

test('/server_info reports version, state, uptime and options as Envoy\'s ServerInfo JSON', async () => {
  await withAdmin(async (base, proxy) => {
    const r = await get(base + '/server_info');
    assert.equal(r.status, 200);
    assert.equal(r.type, 'application/json');
    const info = JSON.parse(r.body);
    assert.equal(info.version, 'weft/0.1.0');
    assert.equal(info.state, 'LIVE');
    assert.match(info.uptime_current_epoch, /^\d+s$/);
    assert.ok(Number.parseInt(info.uptime_current_epoch) >= 5);
    assert.equal(info.command_line_options.service_cluster, 'web');
    assert.equal(info.command_line_options.service_node, 'web-1');
    proxy.healthFailing = true;
    assert.equal(JSON.parse((await get(base + '/server_info')).body).state, 'DRAINING');
  });
});

test('/stats prints sorted name: value lines, histogram summaries, and honours filter, usedonly, type and format', async () => {
  await withAdmin(async (base, proxy) => {
    const s = proxy.stats;
    s.counter('http.ingress.downstream_rq_total').inc(3);
    s.gauge('cluster.backend.upstream_cx_active').set(2);
    s.counter('cluster.backend.upstream_rq_total');
    const h = s.histogram('cluster.backend.upstream_rq_time', [1, 10, 100]);
    for (const v of [5, 5, 50, 50]) h.record(v);
    s.histogram('http.ingress.downstream_rq_time');
    const all = await get(base + '/stats');
    assert.equal(all.status, 200);
    assert.equal(all.body, [
      'cluster.backend.upstream_cx_active: 2',
      'cluster.backend.upstream_rq_total: 0',
      'http.ingress.downstream_rq_total: 3',
      'cluster.backend.upstream_rq_time: P0(nan,1) P25(nan,5.5) P50(nan,10) P75(nan,55) P90(nan,82) P95(nan,91) P99(nan,98.2) P99.5(nan,99.1) P99.9(nan,99.82) P100(nan,100)',
      'http.ingress.downstream_rq_time: No recorded values',
      '',
    ].join('\n'));
    assert.equal((await get(base + '/stats?usedonly')).body, [
      'cluster.backend.upstream_cx_active: 2',
      'http.ingress.downstream_rq_total: 3',
      'cluster.backend.upstream_rq_time: P0(nan,1) P25(nan,5.5) P50(nan,10) P75(nan,55) P90(nan,82) P95(nan,91) P99(nan,98.2) P99.5(nan,99.1) P99.9(nan,99.82) P100(nan,100)',
      '',
    ].join('\n'));
    assert.equal((await get(base + '/stats?filter=' + encodeURIComponent('^http\\.') + '&type=Counters')).body, 'http.ingress.downstream_rq_total: 3\n');
    const j = await get(base + '/stats?format=json&filter=backend');
    assert.equal(j.type, 'application/json');
    const parsed = JSON.parse(j.body);
    assert.deepEqual(parsed.stats.slice(0, 2), [{ name: 'cluster.backend.upstream_cx_active', value: 2 }, { name: 'cluster.backend.upstream_rq_total', value: 0 }]);
    assert.deepEqual(parsed.stats[2].histograms.supported_quantiles, [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
    assert.equal(parsed.stats[2].histograms.computed_quantiles[0].name, 'cluster.backend.upstream_rq_time');
    assert.deepEqual(parsed.stats[2].histograms.computed_quantiles[0].values[2], { interval: null, cumulative: 10 });
    assert.equal((await get(base + '/stats?filter=(')).status, 400);
    assert.equal((await get(base + '/stats?format=yaml')).status, 400);
  });
});

test('/stats/prometheus serves the exposition format', async () => {
  await withAdmin(async (base, proxy) => {
    clusterScope(proxy.stats, 'reviews.default').counter('upstream_rq_total').inc(9);
    proxy.stats.counter('http.ingress.downstream_rq_2xx').inc(2);
    const r = await get(base + '/stats/prometheus');
    assert.equal(r.status, 200);
    assert.equal(r.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(r.body, /^# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total\{envoy_cluster_name="reviews.default"\} 9\n/m);
    assert.match(r.body, /^envoy_http_downstream_rq_xx\{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"\} 2$/m);
    const same = await get(base + '/stats?format=prometheus');
    assert.equal(same.body, r.body);
  });
});

test('/clusters prints Envoy\'s cluster::host::stat::value lines and the Clusters JSON', async () => {
  await withAdmin(async (base) => {
    const r = await get(base + '/clusters');
    assert.equal(r.status, 200);
    const lines = r.body.split('\n');
    for (const want of [
      'backend::default_priority::max_connections::1024',
      'backend::high_priority::max_retries::3',
      'backend::added_via_api::false',
      'backend::10.0.0.1:8080::cx_active::2',
      'backend::10.0.0.1:8080::cx_connect_fail::0',
      'backend::10.0.0.1:8080::rq_active::0',
      'backend::10.0.0.1:8080::rq_total::42',
      'backend::10.0.0.1:8080::health_flags::healthy',
      'backend::10.0.0.1:8080::weight::3',
      'backend::10.0.0.1:8080::region::eu',
      'backend::10.0.0.1:8080::zone::eu-1a',
      'backend::10.0.0.1:8080::success_rate::-1',
      'backend::10.0.0.2:8080::health_flags::/failed_active_hc/failed_outlier_check',
    ]) assert.ok(lines.includes(want), `missing line ${want}`);
    const j = JSON.parse((await get(base + '/clusters?format=json')).body);
    const c = j.cluster_statuses[0];
    assert.equal(c.name, 'backend');
    assert.equal(c.circuit_breakers.thresholds[1].priority, 'HIGH');
    assert.deepEqual(c.host_statuses[0].address, { socket_address: { address: '10.0.0.1', port_value: 8080 } });
    assert.deepEqual(c.host_statuses[0].stats.find((s: { name: string }) => s.name === 'rq_total'), { name: 'rq_total', value: '42' });
    assert.deepEqual(c.host_statuses[0].stats.find((s: { name: string }) => s.name === 'cx_active'), { name: 'cx_active', value: '2', type: 'GAUGE' });
    assert.equal(c.host_statuses[0].health_status.eds_health_status, 'HEALTHY');
    assert.equal(c.host_statuses[1].health_status.failed_outlier_check, true);
    assert.equal(c.host_statuses[0].locality.zone, 'eu-1a');
  });
});

test('/config_dump passes its parameters to the proxy and maps AdminHttpError to its status', async () => {
  await withAdmin(async (base) => {
    assert.deepEqual(JSON.parse((await get(base + '/config_dump')).body), { configs: [], resource: null, include_eds: false });
    assert.deepEqual(JSON.parse((await get(base + '/config_dump?resource=dynamic_listeners&include_eds')).body),
      { configs: [], resource: 'dynamic_listeners', include_eds: true });
    assert.deepEqual(await get(base + '/config_dump?resource=nope'), { status: 404, body: 'the resource nope does not exist\n', type: 'text/plain; charset=UTF-8' });
    assert.equal((await get(base + '/listeners')).status, 404);
  });
});

test('/logging lists loggers and POST changes one, several or all levels', async () => {
  await withAdmin(async (base, proxy) => {
    assert.equal((await get(base + '/logging')).body, 'active loggers:\n  admin: info\n  config: info\n  router: warning\n\n');
    let r = await post(base + '/logging?router=debug');
    assert.equal(r.status, 200);
    assert.match(r.body, /router: debug/);
    assert.equal(proxy.levels.get('router'), 'debug');
    await post(base + '/logging?paths=admin:trace,config:error');
    assert.deepEqual([...proxy.levels], [['admin', 'trace'], ['config', 'error'], ['router', 'debug']]);
    await post(base + '/logging?level=critical');
    assert.deepEqual([...proxy.levels.values()], ['critical', 'critical', 'critical']);
    r = await post(base + '/logging?nosuch=debug');
    assert.equal(r.status, 400);
    assert.match(r.body, /^error: unknown logger name\n\nusage: \/logging\?<name>=<level>/);
    r = await post(base + '/logging?level=loud');
    assert.equal(r.status, 400);
    assert.match(r.body, /unknown logger level loud/);
    r = await post(base + '/logging?paths=admin:info,nosuch:info');
    assert.equal(r.status, 400);
    assert.equal(proxy.levels.get('admin'), 'critical', 'a rejected batch changes nothing');
  });
});

test('POST /drain_listeners passes inboundonly and graceful; skip_exit needs graceful', async () => {
  await withAdmin(async (base, proxy) => {
    assert.equal((await post(base + '/drain_listeners')).body, 'OK\n');
    await post(base + '/drain_listeners?inboundonly&graceful');
    await post(base + '/drain_listeners?graceful&skip_exit');
    assert.equal((await post(base + '/drain_listeners?skip_exit')).status, 400);
    assert.deepEqual(proxy.drains, [
      { inboundOnly: false, graceful: false, skipExit: false },
      { inboundOnly: true, graceful: true, skipExit: false },
      { inboundOnly: false, graceful: true, skipExit: true },
    ]);
  });
});

test('POST /quitquitquit answers OK, then asks the proxy to quit', async () => {
  await withAdmin(async (base, proxy) => {
    const r = await post(base + '/quitquitquit');
    assert.deepEqual([r.status, r.body], [200, 'OK\n']);
    await proxy.quitCalled;
    assert.equal(proxy.quits, 1);
  });
});

test('POST /reset_counters zeroes counters and leaves gauges', async () => {
  await withAdmin(async (base, proxy) => {
    proxy.stats.counter('a.total').inc(5);
    proxy.stats.gauge('a.active').set(2);
    assert.equal((await post(base + '/reset_counters')).body, 'OK\n');
    assert.equal(proxy.stats.counter('a.total').value, 0);
    assert.equal(proxy.stats.gauge('a.active').value, 2);
  });
});
