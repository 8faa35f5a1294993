import type { FlentSummary } from './figures.ts';
import { headlineOf } from './headline.ts';
import type { Pair } from './pairs.ts';
import type { SoloFigure, SoloRatio } from './round.ts';

/**
 * The pair after the previous round's solo pair (sorted order, wrapping), so
 * every pair gets its turn over N(N-1) rounds; the first pair when there was none.
 */
export function nextSoloPair(pairs: readonly Pair[], previous: Pair | undefined): Pair | undefined {
  const sorted = [...pairs].sort((a, b) => a.src.localeCompare(b.src) || a.dst.localeCompare(b.dst));
  if (sorted.length === 0) return undefined;
  const at =
    previous === undefined ? -1 : sorted.findIndex((p) => p.src === previous.src && p.dst === previous.dst);
  if (at === -1 && previous !== undefined) {
    // The previous pair left the cluster: the first pair sorting after it.
    const after = sorted.find(
      (p) => p.src.localeCompare(previous.src) > 0 || (p.src === previous.src && p.dst > previous.dst),
    );
    return after ?? sorted[0];
  }
  return sorted[(at + 1) % sorted.length];
}

/** parallel / solo for each headline figure both tests measured (a zero solo figure has no ratio). */
export function soloRatios(parallel: FlentSummary | null, solo: FlentSummary | null): SoloRatio[] {
  const [p, s] = [headlineOf(parallel), headlineOf(solo)];
  const pairs: [SoloFigure, number | null, number | null][] = [
    ['throughput_src_to_dst', p.throughput.src_to_dst, s.throughput.src_to_dst],
    ['throughput_dst_to_src', p.throughput.dst_to_src, s.throughput.dst_to_src],
    ['latency', p.latencySeconds, s.latencySeconds],
  ];
  return pairs.flatMap(([figure, par, sol]) =>
    par === null || sol === null || sol === 0 ? [] : [{ figure, parallel: par, solo: sol, ratio: par / sol }],
  );
}
