import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XdsDirectorySource, parseResourceFile } from './file-source.ts';
import { SnapshotCache, TypeUrl } from './snapshot-cache.ts';

const T = 'type.googleapis.com/envoy.';
const CLA = (name: string, extra = ''): string => `- "@type": ${T}config.endpoint.v3.ClusterLoadAssignment\n  cluster_name: ${name}\n${extra}`;

test('parseResourceFile reads Envoy filesystem-subscription files (YAML and JSON)', () => {
  const yaml = parseResourceFile(`version_info: "1"\nresources:\n${CLA('a')}${CLA('b')}`, 'yaml', 'f.yaml');
  assert.deepEqual(yaml.map((r) => [r.typeUrl, r.name]), [[TypeUrl.endpoint, 'a'], [TypeUrl.endpoint, 'b']]);
  const json = parseResourceFile(JSON.stringify({ resources: [{ '@type': `${T}config.cluster.v3.Cluster`, name: 'c', type: 'STATIC' }] }), 'json', 'f.json');
  assert.equal(json[0].name, 'c');
  assert.equal(json[0].version.length, 16);
  assert.deepEqual(parseResourceFile('', 'yaml', 'empty.yaml'), []);
});

test('parseResourceFile rejects bad files with the path of the bad field', () => {
  assert.throws(() => parseResourceFile(`resources:\n${CLA('a', '  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { port_value: "x" } } } }] }]\n')}`, 'yaml', 'f.yaml'),
    /^ConfigError: resources\[0\]\.endpoints\[0\]\.lb_endpoints\[0\]\.endpoint\.address\.socket_address\.port_value: /);
  assert.throws(() => parseResourceFile(`resources:\n- "@type": ${T}config.nope.v3.Nope\n`, 'yaml', 'f.yaml'), /resources\[0\]/);
  assert.throws(() => parseResourceFile(`resources:\n- "@type": ${T}extensions.filters.http.router.v3.Router\n`, 'yaml', 'f.yaml'), /resources\[0\]: ".*Router" is not an xDS resource type/);
  assert.throws(() => parseResourceFile(`resources:\n${CLA('a')}${CLA('a')}`, 'yaml', 'f.yaml'), /resources\[1\]: duplicate resource "a"/);
  assert.throws(() => parseResourceFile(`resources:\n- "@type": ${T}config.cluster.v3.Cluster\n  type: STATIC\n`, 'yaml', 'f.yaml'), /resources\[0\]\.name: the resource has no name/);
  assert.throws(() => parseResourceFile('resources: [\n', 'yaml', 'f.yaml'), /^ConfigError: f\.yaml:\d+:\d+: /);
  assert.throws(() => parseResourceFile('{"resources": [}', 'json', 'f.json'), /f\.json: invalid JSON/);
  assert.throws(() => parseResourceFile('resourcez: []\n', 'yaml', 'f.yaml'), /resourcez/);
});

test('the directory source keeps the previous version of an invalid file and refuses inconsistent sets', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-xds-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logs: string[] = [];
  const cache = new SnapshotCache();
  const source = new XdsDirectorySource(dir, cache, { log: (l) => logs.push(l) });
  writeFileSync(join(dir, 'eds.yaml'), `resources:\n${CLA('a')}`);
  mkdirSync(join(dir, 'node-7'));
  writeFileSync(join(dir, 'node-7', 'more.yaml'), `resources:\n${CLA('seven')}`);
  writeFileSync(join(dir, 'notes.txt'), 'not a resource file');
  assert.deepEqual(source.reload(), { ok: true, errors: [] });
  const endpointNames = (id: string): string[] => [...cache.snapshotFor({ id, cluster: '' }).resources(TypeUrl.endpoint).keys()].sort();
  assert.deepEqual(endpointNames('other'), ['a']);
  assert.deepEqual(endpointNames('node-7'), ['a', 'seven']);

  writeFileSync(join(dir, 'eds.yaml'), `resources:\n${CLA('a')}${CLA('b', '  policy: { overprovisioning_factor: -1 }\n')}`);
  const bad = source.reload();
  assert.equal(bad.ok, false);
  assert.match(bad.errors[0], /^eds\.yaml: resources\[1\]\.policy\.overprovisioning_factor: .*; keeping the previous version of the file$/);
  assert.deepEqual(endpointNames('other'), ['a']);
  assert.deepEqual(logs, bad.errors);

  writeFileSync(join(dir, 'eds.yaml'), `resources:\n${CLA('a')}${CLA('b')}`);
  writeFileSync(join(dir, 'cds.yaml'), `resources:\n- "@type": ${T}config.cluster.v3.Cluster\n  name: c\n  type: EDS\n`);
  const inconsistent = source.reload();
  assert.equal(inconsistent.ok, false);
  assert.match(inconsistent.errors.join('\n'), /cluster "c" needs ClusterLoadAssignment "c" \(EDS\)/);
  assert.deepEqual(endpointNames('other'), ['a'], 'nothing of the rejected set is served');

  writeFileSync(join(dir, 'eds.yaml'), `resources:\n${CLA('a')}${CLA('b')}${CLA('c')}`);
  assert.deepEqual(source.reload(), { ok: true, errors: [] });
  assert.deepEqual(endpointNames('other'), ['a', 'b', 'c']);
  rmSync(join(dir, 'node-7'), { recursive: true });
  source.reload();
  assert.deepEqual(endpointNames('node-7'), ['a', 'b', 'c'], 'a removed override directory falls back to the default');
});

test('a reload parses only the files whose text changed', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-xds-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cache = new SnapshotCache();
  const source = new XdsDirectorySource(dir, cache, { log: () => {} });
  writeFileSync(join(dir, 'a.yaml'), `resources:\n${CLA('a')}`);
  writeFileSync(join(dir, 'b.yaml'), `resources:\n${CLA('b')}`);
  assert.deepEqual(source.reload(), { ok: true, errors: [] });
  const get = (name: string) => cache.snapshotFor(undefined).resources(TypeUrl.endpoint).get(name);
  const [a1, b1] = [get('a'), get('b')];
  writeFileSync(join(dir, 'b.yaml'), `resources:\n${CLA('b', '  policy: { overprovisioning_factor: 150 }\n')}`);
  assert.deepEqual(source.reload(), { ok: true, errors: [] });
  assert.equal(get('a'), a1, 'the unchanged file was not parsed again');
  assert.notEqual(get('b')?.version, b1?.version, 'the changed file was');
  writeFileSync(join(dir, 'b.yaml'), `resources:\n${CLA('b')}`);
  source.reload();
  assert.equal(get('b')?.version, b1?.version, 'going back to earlier text parses it again');
});
