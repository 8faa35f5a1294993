import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listRigObjects } from '../../infra/rig/sim-cluster.ts';
import { startProcess, waitFor } from '../../layers/core/process.ts';
import { CLI, netmon } from '../helpers/cli.ts';
import { relativeDifference } from '../helpers/flent-stats.ts';
import { strayTestProcesses } from '../setup/global.ts';

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
}

const out = await mkdtemp(join(tmpdir(), 'netmon-demo-test-'));
afterAll(() => rm(out, { recursive: true, force: true }));

describe('npm run demo', () => {
  it('measures all 12 ordered pairs of a 4-node simulated cluster: shaped rates within 10%, the cut pair failing', async () => {
    const result = await netmon(['demo', '--out', out], 300_000);
    expect(result.exitCode, result.stderr).toBe(0);
    const { pairs } = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as { pairs: DemoPair[] };
    expect(pairs).toHaveLength(12);
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
    // The archives are in the s3rver folder under out/, the same objects the URLs name.
    expect((await stat(join(out, 's3', 'netmon'))).isDirectory()).toBe(true);
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
      async () => (await strayTestProcesses(0)).some((p) => p.includes('flent')),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect((await listRigObjects()).netns.length).toBeGreaterThan(0);
    process.kill(demo.pid as number, 'SIGINT');
    const result = await demo.done;
    expect(result.exitCode).toBe(130);
    expect(await listRigObjects()).toEqual({ netns: [], links: [] });
    await waitFor(
      'test tools and the stack to be gone',
      async () => (await strayTestProcesses(0)).length === 0,
      {
        timeoutMs: 10_000,
      },
    );
    await rm(dir, { recursive: true, force: true });
  }, 180_000);
});
