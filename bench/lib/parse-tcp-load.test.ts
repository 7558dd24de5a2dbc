import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTcpLoad } from './parse-tcp-load.ts';

describe('parseTcpLoad', () => {
  it('reads the last line of a bulk report', () => {
    const r = parseTcpLoad('(node:1) ExperimentalWarning: x\n{"mode":"bulk","bytes":1048576,"acknowledged":1048576,"seconds":0.5,"mbPerSecond":2.097152}\n');
    assert.deepEqual(r, { mode: 'bulk', bytes: 1048576, acknowledged: 1048576, seconds: 0.5, mbPerSecond: 2.097152 });
  });

  it('reads ping-pong and handshake reports', () => {
    const p = parseTcpLoad('{"mode":"pingpong","connections":16,"size":64,"roundTrips":1000,"seconds":1,"rate":1000,"p50Us":250,"p90Us":400,"p99Us":900,"maxUs":2000,"errors":0}');
    assert.equal(p.mode, 'pingpong');
    assert.equal(p.mode === 'pingpong' ? p.p99Us : -1, 900);
    const h = parseTcpLoad('{"mode":"handshake","concurrency":4,"handshakes":10,"seconds":1,"rate":10,"errors":2,"firstError":"ECONNRESET","group":"TLSv1.3 X25519"}');
    assert.equal(h.mode === 'handshake' ? h.firstError : '', 'ECONNRESET');
    assert.equal(h.mode === 'handshake' ? h.group : '', 'TLSv1.3 X25519');
    assert.throws(() => parseTcpLoad('{"mode":"handshake","concurrency":4,"handshakes":10,"seconds":1,"rate":10,"errors":0,"group":3}'), /group is not a string/);
  });

  it('rejects empty, non-JSON, unknown-mode and incomplete output with the reason', () => {
    assert.throws(() => parseTcpLoad('  \n'), /printed nothing/);
    assert.throws(() => parseTcpLoad('Error: connect ECONNREFUSED'), /not JSON/);
    assert.throws(() => parseTcpLoad('{"mode":"udp"}'), /unknown mode "udp"/);
    assert.throws(() => parseTcpLoad('{"mode":"bulk","bytes":1,"acknowledged":1,"seconds":0.1}'), /field mbPerSecond is undefined/);
    assert.throws(() => parseTcpLoad('{"mode":"handshake","concurrency":4,"handshakes":-1,"seconds":1,"rate":0,"errors":0}'), /field handshakes is -1/);
  });
});
