import type { Direction } from './test-types.ts';

/**
 * The shapes of measured figures, in base units (seconds, bit/s, ratios),
 * and how flent's series map to probes and directions of data flow. Flent's
 * archives are read into these by layers/flent; metrics, graphs and tables
 * read them.
 */

export interface Distribution {
  count: number;
  min: number | null;
  mean: number | null;
  median: number | null;
  p99: number | null;
  max: number | null;
}

export type SeriesUnit = 's' | 'bit/s';
export type SeriesKind = 'latency' | 'throughput';

export interface SeriesStats extends Distribution {
  kind: SeriesKind;
  unit: SeriesUnit;
  /** Lost probes over expected probes; latency series of ping tools only, else null. */
  lossRatio: number | null;
  /** The tool that produced the series (PingRunner, IrttRunner, NetperfDemoRunner...), when recorded. */
  runner: string | null;
}

export interface DirectionThroughput {
  /** The whole direction: "TCP upload" for single-flow tests, "TCP upload sum" for rrul. */
  total: SeriesStats | null;
  totalSeries: string | null;
  /** Each flow's own series (rrul: BE, BK, CS5, EF). */
  flows: Record<string, SeriesStats>;
}

/** The typed summary of one Flent archive (layers/flent/summary.ts builds it). */
export interface FlentSummary {
  connectivity: 1;
  test: string;
  title: string | null;
  /** Seconds of measurement asked for (flent -l). */
  lengthSeconds: number;
  /** Seconds the run took including flent's delays. */
  totalLengthSeconds: number;
  stepSeconds: number;
  /** ISO 8601, UTC. */
  startTime: string;
  hosts: string[];
  flentVersion: string;
  series: Record<string, SeriesStats>;
  latency: Record<string, SeriesStats>;
  throughput: Record<Direction, DirectionThroughput>;
  /** Series that carry no samples at all (a runner that failed inside an otherwise good run). */
  emptySeries: string[];
  /** Series skipped because their unit is not one k8s-netmon understands. */
  unknownUnitSeries: string[];
  /**
   * One-way figures per irtt series, only for tests whose registry entry
   * names such series (udp_latency): other tests' summaries lack the key, so
   * their records keep the shape they always had.
   */
  oneWay?: Record<string, OneWaySeries>;
}

/**
 * One direction of an irtt probe's path, in seconds: the one-way delays of
 * the packets that went through it, and the packets lost on it.
 *
 * One-way delays are the difference of two clocks (the client's send time on
 * src, the server's receive time on dst, and back): exact on the rig, whose
 * nodes share one clock, offset by the clock error between two real nodes,
 * and then possibly negative. Their sum over both legs, the round trip, is
 * not affected. (Clock error bounds would sit beside these figures.)
 */
export interface OneWayLeg extends Distribution {
  /** Packets irtt found lost on this leg (its lost_dir "up" or "down"). */
  lost: number;
  /** `lost` over the packets sent: the legs' ratios and that of lostUnknown add up to the total. */
  lossRatio: number | null;
}

/** The one-way figures of one irtt series. */
export interface OneWaySeries {
  /** Packets the client sent (irtt skips a packet when its timer fires late: no loss). */
  packetsSent: number;
  packetsReceived: number;
  /** Every lost packet over packets sent: the series' own lossRatio. */
  lossRatio: number | null;
  /** Lost packets irtt could not place on either leg. */
  lostUnknown: number;
  /** src -> dst: irtt's send delay ("up"). */
  up: OneWayLeg;
  /** dst -> src: irtt's receive delay ("down"). */
  down: OneWayLeg;
}

export type OneWayLegName = 'up' | 'down';
/** irtt's client runs on src: up is the request src -> dst, down the reply dst -> src. */
export const FLOW_OF_LEG: Readonly<Record<OneWayLegName, FlowDirection>> = {
  up: 'src_to_dst',
  down: 'dst_to_src',
};

/** Round-trip figures of one probe series, in seconds. */
export type LatencyFigures = Pick<Distribution, 'min' | 'mean' | 'median' | 'p99' | 'max'>;
export const LATENCY_STATS = ['min', 'mean', 'median', 'p99', 'max'] as const;
export type LatencyStat = (typeof LATENCY_STATS)[number];

/** Throughput figures of one direction of data flow, in bit/s. */
export type ThroughputFigures = Pick<Distribution, 'mean' | 'median' | 'p99'>;
export const THROUGHPUT_STATS = ['mean', 'median', 'p99'] as const;
export type ThroughputStat = (typeof THROUGHPUT_STATS)[number];

/** Direction of data flow relative to the pair (src -> dst). */
export type FlowDirection = 'src_to_dst' | 'dst_to_src';
export const FLOW_DIRECTIONS: readonly FlowDirection[] = ['src_to_dst', 'dst_to_src'];

/** The client runs on src, the server on dst: flent's upload flows src -> dst, its download dst -> src. */
export const FLOW_OF: Readonly<Record<Direction, FlowDirection>> = {
  upload: 'src_to_dst',
  download: 'dst_to_src',
};

const PING_PREFIX = 'ping (ms) ';

/**
 * The probe label of a flent latency series: "Ping (ms) UDP BE" -> "udp_be",
 * "Ping (ms) ICMP" -> "icmp". Null for flent's computed average ("Ping (ms)
 * avg"), which is no probe of its own.
 */
export function probeName(series: string): string | null {
  let name = series.trim().toLowerCase();
  if (name.startsWith(PING_PREFIX)) name = name.slice(PING_PREFIX.length);
  name = name
    .trim()
    .replace(/\s+/g, '_')
    .replace(/[^a-z0-9_]/g, '_');
  if (name === '' || name === 'avg') return null;
  return name;
}

/** Each latency series of the summary under its probe label (flent's average left out). */
export function latencyProbes(summary: FlentSummary): Array<{ probe: string; stats: SeriesStats }> {
  const probes: Array<{ probe: string; stats: SeriesStats }> = [];
  for (const [series, stats] of Object.entries(summary.latency)) {
    const probe = probeName(series);
    if (probe !== null) probes.push({ probe, stats });
  }
  return probes.sort((a, b) => a.probe.localeCompare(b.probe));
}

/**
 * Each irtt series' legs under its probe label and direction of flow: where
 * one-way metrics (netmon_one_way_delay_seconds, a loss per direction) and
 * graph fields would read them.
 */
export function oneWayFlows(
  summary: FlentSummary,
): Array<{ probe: string; direction: FlowDirection; leg: OneWayLeg }> {
  const flows: Array<{ probe: string; direction: FlowDirection; leg: OneWayLeg }> = [];
  for (const [series, oneWay] of Object.entries(summary.oneWay ?? {})) {
    const probe = probeName(series);
    if (probe === null) continue;
    for (const name of ['up', 'down'] as const)
      flows.push({ probe, direction: FLOW_OF_LEG[name], leg: oneWay[name] });
  }
  return flows.sort((a, b) => a.probe.localeCompare(b.probe));
}

/** The whole-direction throughput of the summary per direction of data flow. */
export function throughputFlows(
  summary: FlentSummary,
): Array<{ direction: FlowDirection; stats: SeriesStats }> {
  const flows: Array<{ direction: FlowDirection; stats: SeriesStats }> = [];
  for (const dir of ['upload', 'download'] as const) {
    const stats = summary.throughput[dir].total;
    if (stats !== null) flows.push({ direction: FLOW_OF[dir], stats });
  }
  return flows;
}
