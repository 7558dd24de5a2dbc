/**
 * The simulated ADS clients of bench:xds against Weft's real ADS server and directory source (in this
 * process, port 0), on a 20-service mesh written by xds-mesh.ts: both protocol variants sync (CDS, EDS for
 * every cluster, LDS, RDS), the server sees their ACKs, and an endpoint change reaches every client as
 * exactly one resource in delta and as the whole EDS set in SotW.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AdsServer } from '../../src/xds/server/ads-server.ts';
import { XdsDirectorySource } from '../../src/xds/server/file-source.ts';
import { SnapshotCache } from '../../src/xds/server/snapshot-cache.ts';
import { ClientFleet } from './ads-clients.ts';
import { MESH_TYPES, meshFiles, serviceFile, serviceFileText, serviceName } from './xds-mesh.ts';

const SERVICES = 20;

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const mode of ['sotw', 'delta'] as const) {
  describe(`ClientFleet (${mode})`, () => {
    it('syncs every client, and one endpoint change reaches all of them', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'weft-ads-clients-'));
      for (const [name, text] of meshFiles(SERVICES)) writeFileSync(join(dir, name), text);
      const cache = new SnapshotCache();
      const source = new XdsDirectorySource(dir, cache, { quietMs: 20, log: () => {} });
      assert.deepEqual(source.start().errors, []);
      const ads = new AdsServer(cache, { log: () => {} });
      const port = await ads.listen(0, '127.0.0.1');
      const fleet = new ClientFleet(`127.0.0.1:${port}`, 3, mode, `t-${mode}`);
      try {
        await until(() => fleet.clients.every((c) => c.synced), 'sync');
        assert.deepEqual(fleet.totals.errors, []);
        const eds = ads.clients()[0]?.toJson() as { types: Record<string, { subscribed: string[]; acked_version: string; sent_version: string }> };
        assert.equal(ads.clients().length, 3);
        const e = eds.types[MESH_TYPES.endpoint];
        assert.ok(e !== undefined, JSON.stringify(eds));
        if (mode === 'sotw') assert.equal(e.subscribed.length, SERVICES);
        assert.equal(e.acked_version, e.sent_version);

        fleet.arm(MESH_TYPES.endpoint, serviceName(7));
        writeFileSync(join(dir, serviceFile(7)), serviceFileText(7, 1));
        await until(() => fleet.changes().every((c) => c !== null), 'the endpoint change');
        for (const c of fleet.changes()) {
          assert.ok(c !== null);
          if (mode === 'delta') assert.deepEqual(c.names, [serviceName(7)]);
          else assert.equal(c.resources, SERVICES);
        }
        assert.deepEqual(fleet.totals.errors, []);
      } finally {
        fleet.close();
        source.close();
        await ads.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
