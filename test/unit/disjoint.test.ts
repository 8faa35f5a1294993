import { describe, expect, it } from 'vitest';
import { Barrier } from '../../layers/core/barrier.ts';
import { parseSchedules } from '../../layers/core/schedules.ts';
import { disjointSlots, pairKey } from '../../layers/domain/pairs.ts';

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
