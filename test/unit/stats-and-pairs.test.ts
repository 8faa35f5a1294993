import { describe, expect, it } from 'vitest';
import { describe as distribution, percentileSorted } from '../../layers/core/stats.ts';
import { orderedPairs, pairKey, spreadPairs } from '../../layers/domain/pairs.ts';

describe('statistics with numpy definitions', () => {
  it('interpolates percentiles linearly like numpy.percentile', () => {
    // numpy.percentile([1, 2, 3, 4], 99) == 3.97; numpy.median([1, 2, 3, 4]) == 2.5
    expect(percentileSorted([1, 2, 3, 4], 99)).toBeCloseTo(3.97, 12);
    expect(percentileSorted([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentileSorted([7], 99)).toBe(7);
    expect(percentileSorted([], 50)).toBeNull();
  });

  it('describes samples in any order, and nothing as nulls', () => {
    expect(distribution([3, 1, 2])).toEqual({ count: 3, min: 1, mean: 2, median: 2, p99: 2.98, max: 3 });
    expect(distribution([])).toEqual({ count: 0, min: null, mean: null, median: null, p99: null, max: null });
  });
});

describe('ordered pairs', () => {
  it('lists n*(n-1) ordered pairs', () => {
    const pairs = orderedPairs(['a', 'b', 'c', 'd']);
    expect(pairs).toHaveLength(12);
    expect(new Set(pairs.map(pairKey)).size).toBe(12);
  });

  function backToBack(pairs: ReturnType<typeof orderedPairs>): number {
    let sharing = 0;
    for (let i = 1; i < pairs.length; i++) {
      const [p, q] = [pairs[i - 1], pairs[i]];
      if (p && q && [q.src, q.dst].some((n) => n === p.src || n === p.dst)) sharing++;
    }
    return sharing;
  }

  it.each([
    // 3 nodes: any two pairs share a node. 4 nodes: the disjoint pairs form three
    // separate cycles of four, so two hand-overs are forced. From 5 on: none.
    [3, 5],
    [4, 2],
    [5, 0],
    [6, 0],
    [10, 0],
    [20, 0],
  ])('spreads the pairs of %i nodes with %i back-to-back tests, the fewest possible', (n, expected) => {
    const nodes = Array.from({ length: n }, (_, i) => `node-${i}`);
    const spread = spreadPairs(orderedPairs(nodes));
    expect(spread).toHaveLength(n * (n - 1));
    expect(new Set(spread.map(pairKey)).size).toBe(n * (n - 1));
    expect(backToBack(spread)).toBe(expected);
  });

  it('starts with the highest-priority pair', () => {
    const pairs = orderedPairs(['a', 'b', 'c', 'd', 'e']).reverse();
    expect(spreadPairs(pairs)[0]).toEqual(pairs[0]);
  });

  it('keeps priority order when nothing needs spreading', () => {
    const pairs = [
      { src: 'a', dst: 'b' },
      { src: 'c', dst: 'd' },
    ];
    expect(spreadPairs(pairs)).toEqual(pairs);
  });
});
