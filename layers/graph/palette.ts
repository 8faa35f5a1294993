import { interpolateBlues, interpolateRdYlGn, interpolateYlOrRd } from 'd3-scale-chromatic';

/**
 * Every colour that means something in the graph's views: the node-link
 * graph (dot.ts) and the matrices (matrix.ts) say failed, stale, fast and
 * slow in the same colours.
 */

export interface LatencyBand {
  /** Upper bound (exclusive) of the band in seconds; null: no upper bound. */
  belowSeconds: number | null;
  color: string;
  label: string;
}

/** Headline latency -> edge colour, on a fixed scale so that two graphs compare at a glance. */
export const LATENCY_SCALE: readonly LatencyBand[] = [
  { belowSeconds: 0.001, color: '#1a9850', label: '< 1 ms' },
  { belowSeconds: 0.005, color: '#91cf60', label: '1-5 ms' },
  { belowSeconds: 0.02, color: '#fc8d59', label: '5-20 ms' },
  { belowSeconds: null, color: '#d73027', label: '>= 20 ms' },
];

export const EDGE_COLORS = {
  /** connectivity 0, drawn dashed. */
  failed: '#e41a1c',
  /** stale or never measured, drawn dotted. */
  stale: '#9e9e9e',
  /** reached, but no latency figure (a TCP-only test). */
  noLatency: '#525252',
} as const;

export const MATRIX_COLORS = {
  /** Stale: the last figure is known but old (the graph's grey). */
  stale: EDGE_COLORS.stale,
  /** Reached, but no figure for this metric (e.g. throughput of a ping-only pair). */
  noFigure: '#e6e6e6',
  /** Never measured, or no edge for the pair. */
  unmeasured: '#ffffff',
  /** The hatch of a failed pair (the graph's dashed red). */
  failed: EDGE_COLORS.failed,
  diagonal: '#ffffff',
} as const;

export function latencyColor(seconds: number | null): string {
  if (seconds === null) return EDGE_COLORS.noLatency;
  const band = LATENCY_SCALE.find((b) => b.belowSeconds === null || seconds < b.belowSeconds);
  return band?.color ?? EDGE_COLORS.noLatency;
}

/** The matrices' continuous scales: 0..1 along the scale -> colour. */
export const RAMPS = {
  /** Lower is better: green (the graph's fast) to red (slow). */
  greenToRed: (t: number): string => interpolateRdYlGn(1 - 0.1 - t * 0.8),
  /** Higher is better: pale to dark blue; the palest stays off white (white: not measured). */
  paleToBlue: (t: number): string => interpolateBlues(0.2 + t * 0.8),
  yellowToRed: (t: number): string => interpolateYlOrRd(0.05 + t * 0.95),
} as const;
