import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseBootstrapText } from '../../src/proxy/bootstrap.ts';
import '../../src/proxy/proxy.ts'; // loads every compile module, so each has declared the fields it supports
import { checkSupported } from '../../src/xds/check-supported.ts';
import { BootstrapSchema } from '../../src/xds/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { nginxFlakyUpstreamsConfig, resilienceBootstrap } from './resilience-configs.ts';
import { findCommand } from './tools.ts';

describe('resilienceBootstrap', () => {
  for (const [filters, retries, outlierDetection] of [[false, false, false], [true, true, false], [false, true, true]] as const) {
    it(`is accepted by Weft's strict parser (filters ${filters}, retries ${retries}, outlier detection ${outlierDetection})`, () => {
      const yaml = resilienceBootstrap({ listenerPort: 1, adminPort: 2, endpointPorts: [3, 4, 5], filters, retries, outlierDetection });
      const boot = parseBootstrapText(yaml, 'yaml', 'bootstrap.yaml');
      checkSupported(BootstrapSchema, boot, ''); // throws ConfigError on a field Weft does not implement
      const hcm = boot.staticResources?.listeners[0]?.filterChains[0]?.filters[0];
      assert.equal(hcm?.name, 'envoy.filters.network.http_connection_manager');
      const cluster = boot.staticResources?.clusters[0];
      assert.equal(cluster?.loadAssignment?.endpoints[0]?.lbEndpoints.length, 3);
      assert.equal(cluster?.outlierDetection?.consecutive5xx, outlierDetection ? 3 : undefined);
      assert.equal(yaml.includes('local_ratelimit') && yaml.includes('fault.v3.HTTPFault'), filters);
      assert.equal(yaml.includes('retry_policy'), retries);
    });
  }
});

describe('nginxFlakyUpstreamsConfig', () => {
  it('passes `nginx -t` when nginx is installed', { skip: findCommand('nginx') === undefined && 'nginx not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-nginx-flaky-'));
    try {
      mkdirSync(join(dir, 'www'));
      const file = join(dir, 'nginx.conf');
      writeFileSync(file, nginxFlakyUpstreamsConfig({ prefix: dir }, [20001, 20002], 20003, 20, join(dir, 'www')));
      const r = spawnSync(findCommand('nginx') ?? 'nginx', ['-t', '-c', file, '-p', dir, '-e', join(dir, 'error.log')], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
