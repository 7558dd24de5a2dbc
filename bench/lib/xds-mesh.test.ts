import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResourceFile } from '../../src/xds/server/file-source.ts';
import { Snapshot } from '../../src/xds/server/snapshot-cache.ts';
import { MESH_TYPES, meshFiles, routeFileText, serviceFileText } from './xds-mesh.ts';

describe('xds-mesh', () => {
  it('writes files weft control accepts: a consistent snapshot of N clusters, N assignments, 1 listener, 1 route table', () => {
    const resources = meshFiles(30).flatMap(([name, text]) => parseResourceFile(text, 'yaml', name));
    const s = new Snapshot(resources);
    assert.deepEqual(s.missingReferences(), []);
    assert.deepEqual([MESH_TYPES.cluster, MESH_TYPES.endpoint, MESH_TYPES.listener, MESH_TYPES.route].map((t) => s.resources(t).size), [30, 30, 1, 1]);
  });
  it('writes the same resources as JSON', () => {
    const yaml = meshFiles(5).flatMap(([name, text]) => parseResourceFile(text, 'yaml', name));
    const json = meshFiles(5, 'json').flatMap(([name, text]) => {
      assert.match(name, /\.json$/);
      return parseResourceFile(text, 'json', name);
    });
    assert.deepEqual(json.map((r) => r.version), yaml.map((r) => r.version));
  });
  it('changes exactly one resource per change', () => {
    const [c0, e0] = parseResourceFile(serviceFileText(5), 'yaml', 'a');
    const [c1, e1] = parseResourceFile(serviceFileText(5, 1), 'yaml', 'b');
    assert.equal(c0.version, c1.version);
    assert.notEqual(e0.version, e1.version);
    assert.notEqual(parseResourceFile(routeFileText(10), 'yaml', 'r')[0].version, parseResourceFile(routeFileText(10, 3, 1), 'yaml', 'r')[0].version);
  });
});
