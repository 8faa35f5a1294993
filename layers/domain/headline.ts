import {
  type FlentSummary,
  type FlowDirection,
  type LatencyFigures,
  latencyProbes,
  type ThroughputFigures,
  throughputFlows,
} from './figures.ts';

/**
 * The headline figures of a pair: the one latency, loss and throughput per
 * direction that the graph, the matrices, the graph API, the CLI tables, the
 * demo and the Python package show (docs/headline-figures.md says why).
 *
 * - latency: the median round trip of the first probe found in
 *   HEADLINE_PROBES (ICMP, then UDP), else of the alphabetically first probe;
 *   the loss ratio is that probe's. udp_latency has no ICMP: its irtt series
 *   ("Ping (ms) UDP") is the probe udp, and its loss both legs' total (the
 *   legs' own figures are in the summary's oneWay).
 * - throughput: the mean per direction of data flow: the tool's own figure
 *   (netperf's bytes over time), the one flent's own summary leads with.
 */
export const HEADLINE_PROBES = ['icmp', 'udp', 'udp_be'] as const;
export const HEADLINE_LATENCY_STAT = 'median' as const satisfies keyof LatencyFigures;
export const HEADLINE_THROUGHPUT_STAT = 'mean' as const satisfies keyof ThroughputFigures;

/** Which of the probes (labels as metrics/names and probeName give them) is the pair's headline. */
export function headlineProbe(probes: Iterable<string>): string | undefined {
  const all = [...probes].sort();
  return HEADLINE_PROBES.find((probe) => all.includes(probe)) ?? all[0];
}

export interface Headline {
  /** The probe the latency comes from ("icmp", "udp_be"...), null when there was none. */
  probe: string | null;
  latencySeconds: number | null;
  lossRatio: number | null;
  /** bit/s per direction of data flow; a direction the test did not measure is null. */
  throughput: Record<FlowDirection, number | null>;
}

export const NO_HEADLINE: Headline = Object.freeze({
  probe: null,
  latencySeconds: null,
  lossRatio: null,
  throughput: Object.freeze({ src_to_dst: null, dst_to_src: null }),
});

/** The headline of one measured test (a failure has none: pass null). */
export function headlineOf(summary: FlentSummary | null): Headline {
  if (summary === null) return NO_HEADLINE;
  const probes = latencyProbes(summary);
  const probe = headlineProbe(probes.map((p) => p.probe));
  const stats = probes.find((p) => p.probe === probe)?.stats;
  const throughput: Record<FlowDirection, number | null> = { src_to_dst: null, dst_to_src: null };
  for (const flow of throughputFlows(summary))
    throughput[flow.direction] = flow.stats[HEADLINE_THROUGHPUT_STAT];
  return {
    probe: probe ?? null,
    latencySeconds: stats?.[HEADLINE_LATENCY_STAT] ?? null,
    lossRatio: stats?.lossRatio ?? null,
    throughput,
  };
}
