import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import {
  parseCpuBusySeconds, parseProcStat, processGroupPids, readCpuBusySeconds, readProcStat, readRssBytes, RssSampler,
  totalCpuSeconds, clockTicksPerSecond,
} from './proc-stats.ts';

describe('proc-stats', () => {
  it('parses a stat line whose command name holds spaces and parentheses', () => {
    const line = '4242 (nginx: (worker) x) S 4241 4241 4241 0 -1 4194624 100 0 0 0 250 50 0 0 20 0 1 0 1 1 1';
    const st = parseProcStat(line);
    assert.equal(st.pid, 4242);
    assert.equal(st.ppid, 4241);
    assert.equal(st.pgrp, 4241);
    assert.equal(st.cpuSeconds, 300 / clockTicksPerSecond());
  });

  it('reads this process: RSS in bytes, CPU time, and nothing for a pid that does not exist', () => {
    const rss = readRssBytes(process.pid);
    assert.ok(rss !== undefined && rss > 10 * 2 ** 20, `rss ${rss}`);
    const st = readProcStat(process.pid);
    assert.equal(st?.pid, process.pid);
    assert.ok((st?.cpuSeconds ?? -1) >= 0);
    assert.equal(readRssBytes(2 ** 22 + 1), undefined);
  });

  it('finds every process of a group (a shell and its child) and samples their RSS', async () => {
    const child = spawn('sh', ['-c', 'sleep 30 & wait'], { detached: true, stdio: 'ignore' });
    const pgid = child.pid ?? 0;
    try {
      let pids: number[] = [];
      for (let i = 0; i < 50 && pids.length < 2; i++) {
        pids = processGroupPids(pgid);
        if (pids.length < 2) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(pids.length, 2);
      assert.ok(pids.includes(pgid));
      assert.ok(totalCpuSeconds(pids) >= 0);
      const sampler = new RssSampler(pids);
      sampler.start(10);
      assert.ok(sampler.stop() > 0);
    } finally {
      process.kill(-pgid, 'SIGKILL');
      await once(child, 'exit');
    }
  });
});

describe('parseCpuBusySeconds', () => {
  it('adds user, nice, system, irq, softirq and steal of one CPU, not idle or iowait', () => {
    const stat = 'cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 1 1 1 1000 1000 1 1 1 0 0\ncpu1 100 0 50 7000 3 10 20 5 0 0\n';
    assert.equal(parseCpuBusySeconds(stat, '1'), 185 / clockTicksPerSecond());
    assert.equal(parseCpuBusySeconds(stat, '7'), undefined);
    assert.ok((readCpuBusySeconds('0') ?? -1) >= 0);
  });
});
