import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listRigObjects } from '../../infra/rig/sim-cluster.ts';
import { startProcess, waitFor } from '../../layers/core/process.ts';
import { CLI, netmon } from '../helpers/cli.ts';
import { relativeDifference } from '../helpers/flent-stats.ts';
import { binomialInterval } from '../helpers/ground-truth.ts';
import { strayTestProcesses, suiteMark } from '../setup/global.ts';

interface DemoPair {
  src: string;
  dst: string;
  cut: boolean;
  shapedBitsPerSecond: number | null;
  measuredBitsPerSecond: number | null;
  latencySeconds: number | null;
  connectivity: number;
  reason: string | null;
  archiveUrl: string | null;
  injectedDelaySeconds: Legs;
  injectedLossRatio: Legs;
  rttMedianSeconds?: number | null;
  packetsSent?: number;
  oneWayDelaySeconds?: Legs<number | null>;
  lossRatio?: Legs<number | null>;
  clockErrorBoundSeconds?: number | null;
  oneWayDelayTrusted?: boolean;
}

interface SweepPair {
  src: string;
  dst: string;
  connectivity: number | null;
  rttMedianSeconds: number | null;
  lossRatio: number | null;
  underLoad: boolean;
}

interface Legs<T = number> {
  up: T;
  down: T;
}

const out = await mkdtemp(join(tmpdir(), 'netmon-demo-test-'));
afterAll(() => rm(out, { recursive: true, force: true }));

describe('npm run demo', () => {
  it('measures all 12 ordered pairs of a 4-node simulated cluster: shaped rates within 10%, the cut pair failing', async () => {
    const result = await netmon(['demo', '--out', out], 300_000);
    expect(result.exitCode, result.stderr).toBe(0);
    const { pairs, roundSeconds, sweep } = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as {
      pairs: DemoPair[];
      roundSeconds: number;
      sweep: SweepPair[];
    };
    expect(pairs).toHaveLength(12);
    // The round, from its opening to its last result: 12 serial tests of 3 s and more.
    expect(roundSeconds).toBeGreaterThan(12 * 3);
    expect(result.stdout).toMatch(/round: +12 pairs in \d+\.\d s \(serial: one test at a time\)/);
    expect(new Set(pairs.map((p) => `${p.src}>${p.dst}`)).size).toBe(12);
    const cut = pairs.filter((p) => p.cut);
    expect(cut).toEqual([
      expect.objectContaining({ src: 'node-1', dst: 'node-4', connectivity: 0, reason: 'unreachable' }),
    ]);
    for (const pair of pairs.filter((p) => !p.cut)) {
      const label = `${pair.src}->${pair.dst}: ${pair.measuredBitsPerSecond} vs ${pair.shapedBitsPerSecond}`;
      expect(pair.connectivity, label).toBe(1);
      expect(
        relativeDifference(pair.measuredBitsPerSecond ?? 0, pair.shapedBitsPerSecond ?? 1),
        label,
      ).toBeLessThan(0.1);
      expect(pair.latencySeconds).toBeGreaterThan(0);
      expect(pair.archiveUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/netmon\/archives\/demo\//);
    }
    // The printed table and locations.
    expect(result.stdout).toMatch(/node-1\s+node-4 .*0 \(unreachable, cut on purpose\)/);
    expect(result.stdout).toContain(`summary:         ${join(out, 'summary.json')}`);
    for (const format of ['dot', 'svg', 'graphml', 'json']) {
      expect((await stat(join(out, 'graphs', `graph.${format}`))).size).toBeGreaterThan(100);
    }
    // The sweep beside the round: every ordered pair once, the cut one unreachable, the test's ends under load.
    expect(sweep.map((p) => `${p.src}>${p.dst}`).sort()).toEqual(
      pairs.map((p) => `${p.src}>${p.dst}`).sort(),
    );
    for (const pair of sweep) {
      const cut = pair.src === 'node-1' && pair.dst === 'node-4';
      expect(pair, `sweep ${pair.src}->${pair.dst}`).toMatchObject({
        connectivity: cut ? 0 : 1,
        lossRatio: cut ? 1 : 0,
      });
      if (!cut) expect(pair.rttMedianSeconds).toBeGreaterThan(0);
    }
    expect(sweep.some((p) => p.underLoad)).toBe(true);
    expect(result.stdout).toMatch(/sweep matrix: 12 pairs at once/);
    expect(result.stdout).toMatch(/^node-1\s.*\sx$/m);
    // The archives are in the s3rver folder under out/, the same objects the URLs name.
    expect((await stat(join(out, 's3', 'netmon'))).isDirectory()).toBe(true);
  }, 300_000);
});

describe('npm run demo -- --test udp_latency --delays --losses: latency and loss against injected ground truth', () => {
  it('round trips, one-way delays and loss per leg of every pair match what the rig injected', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'netmon-demo-truth-'));
    try {
      // node-1 and node-2 undelayed: their pair is the baseline of this run.
      const delaysMs = [0, 0, 5, 12];
      const losses = [0, 0, 0, 3];
      const result = await netmon(
        [
          ...['demo', '--out', dir, '--test', 'udp_latency', '--length', '2', '--delay', '0'],
          ...['--delays', delaysMs.join(','), '--losses', losses.join(',')],
        ],
        300_000,
      );
      expect(result.exitCode, result.stderr).toBe(0);
      const { pairs } = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as {
        pairs: DemoPair[];
      };
      const measured = pairs.filter((p) => !p.cut);
      expect(measured).toHaveLength(11);
      const baseline = pairs.find((p) => p.src === 'node-1' && p.dst === 'node-2')?.rttMedianSeconds ?? 1;
      expect(baseline).toBeLessThan(0.001);
      for (const pair of measured) {
        const label = `${pair.src}->${pair.dst}: ${JSON.stringify(pair)}`;
        expect(pair.connectivity, label).toBe(1);
        // The rig's nodes read one clock: its one-way delays are exact, bound 0.
        expect(pair, label).toMatchObject({ clockErrorBoundSeconds: 0, oneWayDelayTrusted: true });
        const injected = pair.injectedDelaySeconds;
        const expectedRtt = injected.up + injected.down + baseline;
        const rttTolerance = Math.max(0.0003, 0.03 * expectedRtt);
        expect(Math.abs((pair.rttMedianSeconds ?? 0) - expectedRtt), label).toBeLessThanOrEqual(rttTolerance);
        for (const leg of ['up', 'down'] as const) {
          // Both ends share one clock here: one-way delays are exact up to the path's own.
          expect(
            Math.abs((pair.oneWayDelaySeconds?.[leg] ?? 1) - injected[leg]),
            `${leg} ${label}`,
          ).toBeLessThan(0.0003);
          const sent = pair.packetsSent ?? 0;
          const lost = Math.round((pair.lossRatio?.[leg] ?? 1) * sent);
          const [lo, hi] = binomialInterval(sent, pair.injectedLossRatio[leg], 0.999);
          expect(lost, `${leg} loss ${label}`).toBeGreaterThanOrEqual(lo);
          expect(lost, `${leg} loss ${label}`).toBeLessThanOrEqual(hi);
        }
      }
      // The table prints the measured figures beside the injected ones.
      expect(result.stdout).toMatch(
        /node-3\s+node-4\s+.*up \d+\.\d+ ms \(5\.000 ms\), down \d+\.\d+ ms \(12\.000 ms\).*\(trusted\)/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('npm run demo, interrupted', () => {
  it('Ctrl-C mid-round stops every process and removes every namespace it started', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'netmon-demo-int-'));
    const demo = startProcess([process.execPath, CLI, 'demo', '--out', dir], {
      env: { ...process.env, LOG_LEVEL: 'info' },
      timeoutMs: 120_000,
    });
    // Wait until a test is running: flent is among the processes.
    await waitFor(
      'the first test of the round',
      async () => (await strayTestProcesses(0, suiteMark())).some((p) => p.includes('flent')),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect((await listRigObjects()).netns.length).toBeGreaterThan(0);
    process.kill(demo.pid as number, 'SIGINT');
    const result = await demo.done;
    expect(result.exitCode).toBe(130);
    expect(await listRigObjects()).toEqual({ netns: [], links: [] });
    await waitFor(
      'test tools and the stack to be gone',
      async () => (await strayTestProcesses(0, suiteMark())).length === 0,
      {
        timeoutMs: 10_000,
      },
    );
    await rm(dir, { recursive: true, force: true });
  }, 180_000);
});
