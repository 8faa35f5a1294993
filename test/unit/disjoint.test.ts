import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Barrier } from '../../layers/core/barrier.ts';
import { parseSchedules } from '../../layers/core/schedules.ts';
import type { FlentSummary } from '../../layers/domain/figures.ts';
import { disjointSlots, orderedPairs, pairKey } from '../../layers/domain/pairs.ts';
import { nextSoloPair, soloRatios } from '../../layers/domain/solo.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';
import { soloSamples } from '../../layers/metrics/solo.ts';

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `node-${i + 1}`);

describe('disjoint slots (circle method)', () => {
  it.each([2, 3, 4, 5, 6, 7, 8, 20, 21])(
    '%i nodes: every ordered pair exactly once, no node twice in a slot, 2(N-1) slots (2N when N is odd)',
    (n) => {
      const slots = disjointSlots(names(n));
      const pairs = slots.flat().map(pairKey);
      expect(pairs).toHaveLength(n * (n - 1));
      expect(new Set(pairs).size).toBe(n * (n - 1));
      for (const slot of slots) {
        const nodes = slot.flatMap((p) => [p.src, p.dst]);
        expect(new Set(nodes).size).toBe(nodes.length);
        expect(slot.length).toBe(Math.floor(n / 2));
      }
      expect(slots).toHaveLength(n % 2 === 0 ? 2 * (n - 1) : 2 * n);
    },
  );

  it('maxParallel splits a slot: 8 nodes at 3 at once is 28 slots of at most 3 pairs', () => {
    const slots = disjointSlots(names(8), 3);
    expect(slots).toHaveLength(28);
    expect(Math.max(...slots.map((s) => s.length))).toBe(3);
    expect(new Set(slots.flat().map(pairKey)).size).toBe(56);
    expect(() => disjointSlots(names(4), 0)).toThrow(/maxParallel/);
  });

  it('no node always sends first: each node is src in about half of its slots', () => {
    const slots = disjointSlots(names(8));
    for (const node of names(8)) {
      const sends = slots.filter((slot) => slot.some((p) => p.src === node)).length;
      expect(sends, node).toBe(7);
    }
  });
});

describe('a barrier for a slot of tests', () => {
  it('opens when every party arrived or left, not before', async () => {
    const barrier = new Barrier(3);
    const [a, b, c] = [barrier.party(), barrier.party(), barrier.party()];
    let opened = false;
    const waiting = a.arrive().then(() => {
      opened = true;
    });
    b.leave();
    void b.arrive(); // after leaving: no second count
    await Promise.resolve();
    expect(opened).toBe(false);
    await c.arrive();
    await waiting;
    expect(opened).toBe(true);
    await expect(new Barrier(0).party().arrive()).resolves.toBeUndefined();
  });
});

describe('concurrency in a schedule', () => {
  it('reads serial and disjoint with maxParallel; names the field of a bad one', () => {
    const [schedule] = parseSchedules(
      '[{"name":"bw","cron":"0 * * * *","test":"tcp_upload","lengthSeconds":10,"concurrency":{"mode":"disjoint","maxParallel":4}}]',
    );
    expect(schedule?.concurrency).toEqual({ mode: 'disjoint', maxParallel: 4 });
    expect(() =>
      parseSchedules(
        '[{"name":"bw","cron":"0 * * * *","test":"ping","lengthSeconds":10,"concurrency":{"mode":"all"}}]',
      ),
    ).toThrow(/NETMON_SCHEDULES\[0\]\.concurrency\.mode/);
    expect(() =>
      parseSchedules(
        '[{"name":"bw","cron":"0 * * * *","test":"ping","lengthSeconds":10,"concurrency":{"mode":"disjoint","maxParallel":0}}]',
      ),
    ).toThrow(/concurrency\.maxParallel/);
  });
});

function archive(name: string): FlentSummary {
  const path = new URL(`../fixtures/flent/${name}.flent.gz`, import.meta.url).pathname;
  return summarizeArchive(parseArchive(readFileSync(path), path));
}

describe('the solo check of a disjoint round', () => {
  it('rotates through every pair, one per round, and starts again', () => {
    const pairs = orderedPairs(names(4));
    const seen: string[] = [];
    let previous: { src: string; dst: string } | undefined;
    for (let round = 0; round < pairs.length + 1; round += 1) {
      previous = nextSoloPair(pairs, previous);
      seen.push(pairKey(previous as { src: string; dst: string }));
    }
    expect(new Set(seen.slice(0, pairs.length)).size).toBe(pairs.length);
    expect(seen[pairs.length]).toBe(seen[0]);
    expect(nextSoloPair([], undefined)).toBeUndefined();
  });

  it("goes on after the previous round's pair when that pair left the cluster", () => {
    const pairs = orderedPairs(['a', 'c', 'd']);
    expect(nextSoloPair(pairs, { src: 'b', dst: 'a' })).toEqual({ src: 'c', dst: 'a' });
    expect(nextSoloPair(pairs, { src: 'z', dst: 'a' })).toEqual({ src: 'a', dst: 'c' });
  });

  it('gives parallel/solo for each headline figure both tests have', () => {
    const rrul = archive('rrul');
    expect(soloRatios(rrul, rrul).map((r) => [r.figure, r.ratio])).toEqual([
      ['throughput_src_to_dst', 1],
      ['throughput_dst_to_src', 1],
      ['latency', 1],
    ]);
    const upload = archive('tcp_upload');
    const slower: FlentSummary = structuredClone(upload);
    const total = slower.throughput.upload.total;
    if (total?.mean == null) throw new Error('the tcp_upload fixture has no upload total');
    total.mean /= 2;
    const [throughput] = soloRatios(slower, upload);
    expect(throughput).toMatchObject({ figure: 'throughput_src_to_dst', ratio: 0.5 });
    expect(soloRatios(null, upload)).toEqual([]);
  });

  it('pushes one sample per ratio, labelled with the pair, the test and the figure', () => {
    const check = {
      src: 'a',
      dst: 'b',
      ratios: [{ figure: 'latency' as const, parallel: 2e-3, solo: 1e-3, ratio: 2 }],
    };
    expect(soloSamples(check as never, 'rrul')).toEqual([
      {
        def: expect.objectContaining({ name: 'netmon_parallel_solo_ratio' }),
        labels: { src: 'a', dst: 'b', test: 'rrul', figure: 'latency' },
        value: 2,
      },
    ]);
  });
});
