import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { ClusterSchema } from '../../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { parseMessageJson } from '../../xds/json.ts';
import { StatsStore } from '../../telemetry/stats.ts';
import type { HostSet } from './host.ts';
import { compileClusterConfig, type ClusterConfig } from './cluster-config.ts';
import { DnsMembership, type LookupFn, type ResolvedAddress } from './dns-resolver.ts';

function dnsCluster(type: 'STRICT_DNS' | 'LOGICAL_DNS', names: string[], family = 'AUTO'): ClusterConfig {
  const c = parseMessageJson(ClusterSchema, {
    name: 'web',
    type,
    dns_lookup_family: family,
    dns_refresh_rate: '3600s', // tests drive refreshes themselves
    load_assignment: {
      cluster_name: 'web',
      endpoints: [{ locality: { zone: 'z1' }, load_balancing_weight: 2, lb_endpoints: names.map((n) => ({ endpoint: { address: { socket_address: { address: n, port_value: 8080 } } }, load_balancing_weight: 3 })) }],
    },
  }, 'clusters[0]');
  return compileClusterConfig(c, 'clusters[0]');
}

/** A resolver whose answers the test sets; `fail` makes the next lookups fail like a DNS timeout. */
function scriptedLookup(): { lookup: LookupFn; answers: Map<string, ResolvedAddress[]>; fail: { on: boolean } } {
  const answers = new Map<string, ResolvedAddress[]>();
  const fail = { on: false };
  const lookup: LookupFn = async (name) => {
    if (fail.on) throw Object.assign(new Error(`queryA ETIMEOUT ${name}`), { code: 'ETIMEOUT' });
    const a = answers.get(name);
    if (a === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return a;
  };
  return { lookup, answers, fail };
}

test('STRICT_DNS of localhost (V4_ONLY) yields a 127.0.0.1 host with the endpoint\'s settings', async () => {
  const store = new StatsStore();
  const updates: HostSet[] = [];
  const m = new DnsMembership(dnsCluster('STRICT_DNS', ['localhost'], 'V4_ONLY'), store.scope('cluster.web.'), (hs) => updates.push(hs));
  try {
    await m.start();
  } finally {
    m.stop();
  }
  assert.equal(updates.length, 1);
  const [h] = updates[0].all;
  assert.equal(h.key, '127.0.0.1:8080');
  assert.equal(h.hostname, 'localhost');
  assert.equal(h.weight, 3);
  assert.equal(h.localityWeight, 2);
  assert.equal(h.locality.zone, 'z1');
  assert.equal(m.hosts, updates[0]);
  assert.equal(store.counter('cluster.web.update_attempt').value, 1);
  assert.equal(store.counter('cluster.web.update_success').value, 1);
  assert.equal(store.counter('cluster.web.membership_change').value, 1);
  assert.equal(store.gauge('cluster.web.membership_total').value, 1);
  assert.equal(store.gauge('cluster.web.membership_healthy').value, 1);
});

test('STRICT_DNS of localhost with ALL yields loopback hosts', async () => {
  const m = new DnsMembership(dnsCluster('STRICT_DNS', ['localhost'], 'ALL'), new StatsStore().scope('cluster.web.'), () => {});
  await m.start();
  m.stop();
  const addrs = m.hosts.all.map((h) => h.address);
  assert.ok(addrs.length >= 1 && addrs.every((a) => a === '127.0.0.1' || a === '::1'), `${addrs}`);
});

test('STRICT_DNS: every address is a host; unchanged addresses keep their Host; changes notify', async () => {
  const { lookup, answers } = scriptedLookup();
  answers.set('a.svc', [{ address: '10.0.0.1', family: 4 }, { address: '10.0.0.2', family: 4 }]);
  answers.set('b.svc', [{ address: '10.0.1.1', family: 4 }]);
  const updates: HostSet[] = [];
  const m = new DnsMembership(dnsCluster('STRICT_DNS', ['a.svc', 'b.svc']), new StatsStore().scope('cluster.web.'), (hs) => updates.push(hs), lookup);
  await m.start();
  assert.deepEqual(m.hosts.all.map((h) => h.key), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.1.1:8080']);
  const kept = m.hosts.all[1];

  // Same addresses in another order: no change.
  answers.set('a.svc', [{ address: '10.0.0.2', family: 4 }, { address: '10.0.0.1', family: 4 }]);
  await m.refresh();
  assert.equal(updates.length, 1);

  answers.set('a.svc', [{ address: '10.0.0.2', family: 4 }, { address: '10.0.0.3', family: 4 }]);
  await m.refresh();
  m.stop();
  assert.equal(updates.length, 2);
  assert.deepEqual(m.hosts.all.map((h) => h.key).sort(), ['10.0.0.2:8080', '10.0.0.3:8080', '10.0.1.1:8080']);
  assert.ok(m.hosts.all.includes(kept));
});

test('a failed lookup keeps the last hosts and counts update_failure', async () => {
  const { lookup, answers, fail } = scriptedLookup();
  answers.set('a.svc', [{ address: '10.0.0.1', family: 4 }]);
  const store = new StatsStore();
  const m = new DnsMembership(dnsCluster('STRICT_DNS', ['a.svc']), store.scope('cluster.web.'), () => {}, lookup);
  await m.start();
  const before = m.hosts;
  fail.on = true;
  await m.refresh();
  m.stop();
  assert.equal(m.hosts, before);
  assert.equal(store.counter('cluster.web.update_failure').value, 1);
  assert.equal(store.counter('cluster.web.update_attempt').value, 2);
});

test('a name with no addresses (NXDOMAIN) empties a STRICT_DNS endpoint', async () => {
  const { lookup, answers } = scriptedLookup();
  answers.set('a.svc', [{ address: '10.0.0.1', family: 4 }]);
  const m = new DnsMembership(dnsCluster('STRICT_DNS', ['a.svc']), new StatsStore().scope('cluster.web.'), () => {}, lookup);
  await m.start();
  answers.delete('a.svc');
  await m.refresh();
  m.stop();
  assert.equal(m.hosts.all.length, 0);
});

test('lookup families: AUTO prefers IPv6, V4_PREFERRED prefers IPv4', async () => {
  const both: ResolvedAddress[] = [{ address: '10.0.0.1', family: 4 }, { address: 'fd00::1', family: 6 }];
  for (const [family, expected] of [['AUTO', ['[fd00::1]:8080']], ['V4_PREFERRED', ['10.0.0.1:8080']], ['ALL', ['10.0.0.1:8080', '[fd00::1]:8080']]] as const) {
    const { lookup, answers } = scriptedLookup();
    answers.set('a.svc', both);
    const m = new DnsMembership(dnsCluster('STRICT_DNS', ['a.svc'], family), new StatsStore().scope('cluster.web.'), () => {}, lookup);
    await m.start();
    m.stop();
    assert.deepEqual(m.hosts.all.map((h) => h.key), expected, family);
  }
});

test('LOGICAL_DNS: one host at the first address, replaced when the answer changes', async () => {
  const { lookup, answers } = scriptedLookup();
  answers.set('api.svc', [{ address: '10.0.0.1', family: 4 }, { address: '10.0.0.2', family: 4 }]);
  const updates: HostSet[] = [];
  const m = new DnsMembership(dnsCluster('LOGICAL_DNS', ['api.svc'], 'V4_ONLY'), new StatsStore().scope('cluster.web.'), (hs) => updates.push(hs), lookup);
  await m.start();
  assert.deepEqual(m.hosts.all.map((h) => h.key), ['10.0.0.1:8080']);
  answers.set('api.svc', [{ address: '10.0.0.9', family: 4 }]);
  await m.refresh();
  answers.delete('api.svc'); // an empty answer keeps the logical host
  await m.refresh();
  m.stop();
  assert.deepEqual(m.hosts.all.map((h) => h.key), ['10.0.0.9:8080']);
  assert.equal(updates.length, 2);
});

test('stop(): a lookup still in flight does not publish', async () => {
  let release!: (a: ResolvedAddress[]) => void;
  const lookup: LookupFn = () => new Promise((resolve) => { release = resolve; });
  const updates: HostSet[] = [];
  const m = new DnsMembership(dnsCluster('STRICT_DNS', ['a.svc']), new StatsStore().scope('cluster.web.'), (hs) => updates.push(hs), lookup);
  const started = m.start();
  m.stop();
  release([{ address: '10.0.0.1', family: 4 }]);
  await started;
  assert.equal(updates.length, 0);
});

test('refuses a STATIC cluster', () => {
  const config = compileClusterConfig(create(ClusterSchema, { name: 's' }), '');
  assert.throws(() => new DnsMembership(config, new StatsStore().scope('cluster.s.'), () => {}));
});
