import { type LatencyStat, THROUGHPUT_STATS, type ThroughputStat } from '../domain/figures.ts';
import { HEADLINE_LATENCY_STAT, HEADLINE_THROUGHPUT_STAT } from '../domain/headline.ts';
import type { GraphEdge } from './model.ts';

/**
 * The one latency and throughput figure of an edge that every view of the
 * graph shows first (colour, width, labels, matrix cells, hover text), as
 * layers/domain/headline.ts chooses them, and what the views call them.
 */

/** "median latency", "mean throughput". */
export const HEADLINE_NAMES = {
  latency: `${HEADLINE_LATENCY_STAT} latency`,
  throughput: `${HEADLINE_THROUGHPUT_STAT} throughput`,
} as const;

/** Seconds, round trip; null when the edge has no latency figure. */
export function headlineLatency(edge: Pick<GraphEdge, 'latency'>): number | null {
  return edge.latency?.[HEADLINE_LATENCY_STAT] ?? null;
}

/** bit/s; null when the edge has no throughput figure. */
export function headlineThroughput(edge: Pick<GraphEdge, 'throughput'>): number | null {
  return edge.throughput?.[HEADLINE_THROUGHPUT_STAT] ?? null;
}

/** The spread a tooltip shows beside the headline latency (the mean would only repeat it). */
export const LATENCY_SPREAD: readonly LatencyStat[] = (['min', 'p99', 'max'] as const).filter(
  (stat: LatencyStat) => stat !== HEADLINE_LATENCY_STAT,
);

/** The throughput stats beside the headline one, in THROUGHPUT_STATS order. */
export const OTHER_THROUGHPUT_STATS: readonly ThroughputStat[] = THROUGHPUT_STATS.filter(
  (stat) => stat !== HEADLINE_THROUGHPUT_STAT,
);
