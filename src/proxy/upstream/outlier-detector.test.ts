/**
 * The outlier detector's arithmetic on a controlled clock: the ejection back-off (base × multiplier, capped
 * at max_ejection_time, decaying while the host stays in), success-rate thresholds (mean − factor × stdev),
 * failure percentage, minimum hosts and request volume, and the enforcing_* probabilities (binomial bounds).
 * End-to-end behaviour against real upstreams is in test/health-and-outliers.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { OutlierDetectionSchema } from '../../xds/gen/envoy/config/cluster/v3/outlier_detection_pb.js';
import { StatsStore } from '../../telemetry/stats.ts';
import { Host } from './host.ts';
import { compileOutlierDetection } from './outlier-detection-config.ts';
import { OutlierDetector } from './outlier-detector.ts';
import { assertBinomial } from '../../../test/support/harness.ts';

const s = (seconds: number) => ({ seconds: BigInt(Math.floor(seconds)), nanos: Math.round((seconds % 1) * 1e9) });

function setup(fields: MessageInitShape<typeof OutlierDetectionSchema>, hostCount: number) {
  const config = compileOutlierDetection(create(OutlierDetectionSchema, fields), 'od')!;
  const hosts = Array.from({ length: hostCount }, (_, i) => new Host(`10.0.0.${i + 1}`, 80));
  const stats = new StatsStore();
  const clock = { now: 0 };
  let changes = 0;
  const det = new OutlierDetector(config, { hosts: () => hosts, onHealthChanged: () => { changes++; } }, stats.scope('cluster.c.'), () => clock.now);
  const stat = (name: string): number => {
    const full = `cluster.c.outlier_detection.${name}`;
    const v = stats.counters.get(full)?.value ?? stats.gauges.get(full)?.value;
    if (v === undefined) throw new Error(`no stat ${full}`); // a misspelt name must not read as 0
    return v;
  };
  /** Reports `total` results for host i, `failed` of them 503 (0 = local-origin errors when `local`). */
  const traffic = (i: number, total: number, failed: number, local = false) => {
    for (let k = 0; k < total; k++) det.report(hosts[i], k < failed ? (local ? 0 : 503) : 200);
  };
  return { det, hosts, clock, stat, traffic, changes: () => changes };
}

test('ejection time grows with each ejection, is capped by max_ejection_time, and decays while the host stays in', () => {
  const { det, hosts, clock, traffic } = setup({
    consecutive5xx: 2, interval: s(1), baseEjectionTime: s(10), maxEjectionTime: s(25), maxEjectionPercent: 100,
  }, 2);
  const h = hosts[0];
  const ejectAndReturn = (): number => {
    traffic(0, 2, 2);
    assert.equal(h.outlierEjected, true);
    const ms = det.ejectionMs(h);
    clock.now += ms - 1;
    det.runInterval();
    assert.equal(h.outlierEjected, true, 'still out just before its time');
    clock.now += 1;
    det.runInterval();
    assert.equal(h.outlierEjected, false, 'back once its time is over');
    return ms;
  };
  // base × 1, × 2, then capped at 25 s (the multiplier keeps growing only while base × it < max + base).
  assert.deepEqual([ejectAndReturn(), ejectAndReturn(), ejectAndReturn(), ejectAndReturn()], [10_000, 20_000, 25_000, 25_000]);
  // Each interval in rotation takes one off the multiplier (it stopped at 4: 10 × 4 ≥ 25 + 10).
  for (let i = 0; i < 3; i++) { clock.now += 1000; det.runInterval(); }
  assert.equal(ejectAndReturn(), 20_000, 'multiplier 4 − 3 + 1 = 2');
});

test('success rate: hosts below mean − stdev_factor × stdev are ejected, over hosts with enough volume', () => {
  const { det, hosts, traffic, stat } = setup({
    successRateMinimumHosts: 5, successRateRequestVolume: 10, consecutive5xx: 1000, maxEjectionPercent: 100,
  }, 6);
  // Envoy's worked example: rates 50, 100, 100, 100, 100 → mean 90, stdev 20, threshold 90 − 1.9 × 20 = 52.
  traffic(0, 20, 10);
  for (let i = 1; i < 5; i++) traffic(i, 20, 0);
  traffic(5, 9, 9, false); // below the request volume: not evaluated, not ejected
  det.runInterval(); // evaluates the interval that just ended
  assert.equal(hosts[0].outlierEjected, true);
  assert.ok(hosts.slice(1).every((h) => !h.outlierEjected));
  assert.equal(stat('ejections_detected_success_rate'), 1);
  assert.equal(stat('ejections_enforced_success_rate'), 1);
  assert.equal(stat('ejections_success_rate'), 1);
  assert.equal(stat('ejections_active'), 1);
  det.runInterval();
  assert.equal(stat('ejections_detected_success_rate'), 1, 'the next interval starts from fresh counters');

  // One outlier among five is always below mean − 1.9 × stdev (threshold 100 − 0.96 d for a deficit d);
  // with success_rate_stdev_factor 3000 the threshold is 100 − 1.4 d and the same host stays.
  const b = setup({ successRateMinimumHosts: 5, successRateRequestVolume: 10, successRateStdevFactor: 3000, consecutive5xx: 1000, maxEjectionPercent: 100 }, 5);
  b.traffic(0, 20, 10);
  for (let i = 1; i < 5; i++) b.traffic(i, 20, 0);
  b.det.runInterval();
  assert.equal(b.hosts[0].outlierEjected, false);

  // Only 4 hosts have volume: success_rate_minimum_hosts 5 is not met.
  const c = setup({ successRateMinimumHosts: 5, successRateRequestVolume: 10, consecutive5xx: 1000, maxEjectionPercent: 100 }, 5);
  c.traffic(0, 20, 20);
  for (let i = 1; i < 4; i++) c.traffic(i, 20, 0);
  c.traffic(4, 5, 0);
  c.det.runInterval(); c.det.runInterval();
  assert.equal(c.stat('ejections_detected_success_rate'), 0);
});

test('failure percentage: at or above the threshold is ejected; enforcing_failure_percentage defaults to 0', () => {
  const fields = { failurePercentageMinimumHosts: 3, failurePercentageRequestVolume: 10, failurePercentageThreshold: 50, enforcingSuccessRate: 0, consecutive5xx: 1000, maxEjectionPercent: 100 };
  const a = setup(fields, 3);
  a.traffic(0, 10, 5); a.traffic(1, 10, 4); a.traffic(2, 10, 0);
  a.det.runInterval(); a.det.runInterval();
  assert.equal(a.stat('ejections_detected_failure_percentage'), 1, '50 % ≥ 50 detected, 40 % not');
  assert.equal(a.stat('ejections_enforced_failure_percentage'), 0);
  assert.equal(a.hosts[0].outlierEjected, false);

  const b = setup({ ...fields, enforcingFailurePercentage: 100 }, 3);
  b.traffic(0, 10, 5); b.traffic(1, 10, 4); b.traffic(2, 10, 0);
  b.det.runInterval(); b.det.runInterval();
  assert.equal(b.hosts[0].outlierEjected, true);
  assert.equal(b.hosts[1].outlierEjected, false);
  assert.equal(b.stat('ejections_enforced_failure_percentage'), 1);
});

test('split local-origin errors feed the local-origin detectors, not the external ones', () => {
  const { det, hosts, traffic, stat } = setup({
    splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 1000, failurePercentageMinimumHosts: 3,
    failurePercentageRequestVolume: 10, enforcingFailurePercentageLocalOrigin: 100, enforcingFailurePercentage: 100, maxEjectionPercent: 100,
  }, 3);
  traffic(0, 10, 10, true);
  traffic(1, 10, 0); traffic(2, 10, 0);
  det.runInterval(); det.runInterval();
  assert.equal(hosts[0].outlierEjected, true);
  assert.equal(stat('ejections_enforced_local_origin_failure_percentage'), 1);
  assert.equal(stat('ejections_detected_failure_percentage'), 0, 'local-origin errors are not 5xx when split');
});

test('enforcing_consecutive_5xx: a detected ejection is enforced with that probability', () => {
  const n = 2000;
  let enforced = 0;
  const { det, hosts, clock, traffic, stat } = setup({ consecutive5xx: 1, enforcingConsecutive5xx: 30, maxEjectionPercent: 100, baseEjectionTime: s(1), interval: s(1) }, 1);
  for (let i = 0; i < n; i++) {
    traffic(0, 1, 1);
    if (hosts[0].outlierEjected) { enforced++; clock.now += 1e9; det.runInterval(); }
  }
  assert.equal(stat('ejections_detected_consecutive_5xx'), n);
  assert.equal(stat('ejections_enforced_consecutive_5xx'), enforced);
  assertBinomial(enforced, n, 0.3, 'enforced ejections');
});

test('max_ejection_percent caps ejections across detectors; always_eject_one_host allows one', () => {
  const a = setup({ consecutive5xx: 1, maxEjectionPercent: 40 }, 5);
  for (let i = 0; i < 5; i++) a.traffic(i, 1, 1);
  assert.equal(a.hosts.filter((h) => h.outlierEjected).length, 2);
  assert.equal(a.stat('ejections_overflow'), 3);
  const b = setup({ consecutive5xx: 1, maxEjectionPercent: 0, alwaysEjectOneHost: true }, 5);
  for (let i = 0; i < 5; i++) b.traffic(i, 1, 1);
  assert.equal(b.hosts.filter((h) => h.outlierEjected).length, 1);
});
