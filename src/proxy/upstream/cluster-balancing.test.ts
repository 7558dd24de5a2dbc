/**
 * The cluster hands its balancers the assignment's overprovisioning factor (static load_assignment, or the
 * latest EDS ClusterLoadAssignment) and its panic threshold; counts of picks show the priority split.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSchema } from '../../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '../../xds/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { parseMessageJson } from '../../xds/json.ts';
import { StatsStore } from '../../telemetry/stats.ts';
import { compileClusterConfig, compileClusterLoadAssignment } from './cluster-config.ts';
import { Cluster } from './cluster-manager.ts';
import { assertBinomial } from '../../../test/support/harness.ts';

/** P0: one healthy and one UNHEALTHY endpoint; P1: one endpoint; optional policy. */
function assignment(policy?: object): Record<string, unknown> {
  const ep = (port: number, status = 'HEALTHY') => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } }, health_status: status });
  return {
    cluster_name: 'backend',
    ...(policy === undefined ? {} : { policy }),
    endpoints: [
      { priority: 0, lb_endpoints: [ep(1001), ep(1002, 'UNHEALTHY')] },
      { priority: 1, lb_endpoints: [ep(2001)] },
    ],
  };
}

function p1Share(c: Cluster, n: number): number {
  let p1 = 0;
  for (let i = 0; i < n; i++) if (c.chooseHost({ hash: undefined })!.priority === 1) p1++;
  return p1;
}

test('static load_assignment policy.overprovisioning_factor drives the priority split', () => {
  const n = 20_000;
  const def = new Cluster(compileClusterConfig(parseMessageJson(ClusterSchema, { name: 'backend', lb_policy: 'RANDOM', load_assignment: assignment() }, 'c'), 'c'), new StatsStore());
  assertBinomial(p1Share(def, n), n, 0.3, 'factor 140: P0 at 50 % keeps 70 %');
  const f100 = new Cluster(compileClusterConfig(parseMessageJson(ClusterSchema, { name: 'backend', lb_policy: 'RANDOM', load_assignment: assignment({ overprovisioning_factor: 100 }) }, 'c'), 'c'), new StatsStore());
  assertBinomial(p1Share(f100, n), n, 0.5, 'factor 100');
  def.close();
  f100.close();
});

test('an EDS assignment brings its own overprovisioning_factor', () => {
  const n = 20_000;
  const cfg = compileClusterConfig(parseMessageJson(ClusterSchema, {
    name: 'backend', type: 'EDS', lb_policy: 'RANDOM', eds_cluster_config: { eds_config: { ads: {} } },
  }, 'c'), 'c');
  const c = new Cluster(cfg, new StatsStore());
  c.setEndpoints(compileClusterLoadAssignment(parseMessageJson(ClusterLoadAssignmentSchema, assignment({ overprovisioning_factor: 200 }), ''), ''));
  assert.equal(p1Share(c, n), 0, 'factor 200: P0 at 50 % keeps everything');
  c.setEndpoints(compileClusterLoadAssignment(parseMessageJson(ClusterLoadAssignmentSchema, assignment(), ''), ''));
  assertBinomial(p1Share(c, n), n, 0.3, 'back to the default 140');
  c.close();
});
