import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseBootstrapText } from '../../src/proxy/bootstrap.ts';
import '../../src/proxy/proxy.ts'; // loads every compile module, so each has declared the fields it supports
import { checkSupported } from '../../src/xds/check-supported.ts';
import { BootstrapSchema } from '../../src/xds/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { haproxyTcpConfig, weftL4Bootstrap } from './l4-configs.ts';
import { findCommand } from './tools.ts';

describe('weftL4Bootstrap', () => {
  it('is accepted by Weft\'s bootstrap parser (strict, supported fields only): 3 listeners, 3 clusters', () => {
    const yaml = weftL4Bootstrap({
      adminPort: 1, bulkPort: 2, echoPort: 3, httpsPort: 4, sinkUpstreamPort: 5, echoUpstreamPort: 6, httpUpstreamPort: 7,
      certFile: '/tmp/c.crt', keyFile: '/tmp/c.key',
    });
    const boot = parseBootstrapText(yaml, 'yaml', 'bootstrap.yaml');
    checkSupported(BootstrapSchema, boot, ''); // throws ConfigError on a field Weft does not implement
    const listeners = boot.staticResources?.listeners ?? [];
    assert.deepEqual(listeners.map((l) => l.name), ['bench_bulk', 'bench_echo', 'bench_https']);
    assert.deepEqual(listeners.map((l) => l.filterChains[0]?.filters[0]?.name), [
      'envoy.filters.network.tcp_proxy', 'envoy.filters.network.tcp_proxy', 'envoy.filters.network.http_connection_manager',
    ]);
    assert.equal(listeners[2]?.filterChains[0]?.transportSocket?.name, 'envoy.transport_sockets.tls');
    assert.deepEqual(boot.staticResources?.clusters.map((c) => c.name), ['sink', 'echo', 'http']);
  });
});

describe('haproxyTcpConfig', () => {
  it('passes `haproxy -c` when HAProxy is installed', { skip: findCommand('haproxy') === undefined && 'haproxy not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-haproxy-conf-'));
    try {
      const file = join(dir, 'h.cfg');
      writeFileSync(file, haproxyTcpConfig({ bulkPort: 20001, echoPort: 20002, sinkUpstreamPort: 20003, echoUpstreamPort: 20004 }));
      const r = spawnSync(findCommand('haproxy') ?? 'haproxy', ['-c', '-f', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
