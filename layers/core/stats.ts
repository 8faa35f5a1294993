import type { Distribution } from '../domain/figures.ts';

/**
 * Descriptive statistics with numpy's definitions (flent computes its own
 * figures with numpy, and ours must agree with them).
 */

export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** numpy.percentile with the default linear interpolation; `sorted` must be ascending. */
export function percentileSorted(sorted: readonly number[], percent: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const rank = (percent / 100) * (n - 1);
  const lower = Math.floor(rank);
  const upper = Math.min(lower + 1, n - 1);
  const low = sorted[lower] as number;
  const high = sorted[upper] as number;
  return low + (high - low) * (rank - lower);
}

export function describe(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    min: sorted[0] ?? null,
    mean: mean(sorted),
    median: percentileSorted(sorted, 50),
    p99: percentileSorted(sorted, 99),
    max: sorted[sorted.length - 1] ?? null,
  };
}

export function scaleDistribution(d: Distribution, factor: number): Distribution {
  const scale = (v: number | null): number | null => (v === null ? null : v * factor);
  return {
    count: d.count,
    min: scale(d.min),
    mean: scale(d.mean),
    median: scale(d.median),
    p99: scale(d.p99),
    max: scale(d.max),
  };
}
