import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { netmon } from '../helpers/cli.ts';
import { relativeDifference } from '../helpers/flent-stats.ts';

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

describe('netmon demo', () => {
  it('measures every ordered pair of a 3-node simulated cluster, the cut pair failing', async () => {
    const result = await netmon(
      ['demo', '--nodes', '3', '--length', '3', '--delay', '1', '--out', out],
      180_000,
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const { pairs } = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as { pairs: DemoPair[] };
    expect(pairs).toHaveLength(6);
    expect(new Set(pairs.map((p) => `${p.src}>${p.dst}`)).size).toBe(6);
    const cut = pairs.filter((p) => p.cut);
    expect(cut).toEqual([
      expect.objectContaining({ src: 'node-1', dst: 'node-3', connectivity: 0, reason: 'unreachable' }),
    ]);
    for (const pair of pairs.filter((p) => !p.cut)) {
      expect(pair.connectivity, `${pair.src}->${pair.dst}`).toBe(1);
      expect(
        relativeDifference(pair.measuredBitsPerSecond ?? 0, pair.shapedBitsPerSecond ?? 1),
        `${pair.src}->${pair.dst}: ${pair.measuredBitsPerSecond} vs ${pair.shapedBitsPerSecond}`,
      ).toBeLessThan(0.1);
      expect(pair.latencySeconds).toBeGreaterThan(0);
      expect((await stat(fileURLToPath(pair.archiveUrl ?? ''))).size).toBeGreaterThan(0);
    }
    // The table and the locations are printed for the user.
    expect(result.stdout).toContain('node-1  node-3');
    expect(result.stdout).toContain(`summary:  ${join(out, 'summary.json')}`);
  }, 180_000);
});
