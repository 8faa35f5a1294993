import type { Direction, FlentSummary, SeriesStats } from '../flent/summary.ts';

/**
 * Metric names, help texts and label conventions shared by the pusher and the
 * reader. Every name passes `promtool check metrics` (the integration test
 * checks them all). Throughput is exposed in bytes per second because
 * promtool's lint rejects "bits" as a non-base unit; the reader converts back
 * to bit/s (a factor of 8 is exact in floating point).
 */

export const JOB = 'netmon';
export const GROUPING_LABELS = ['schedule', 'src', 'dst'] as const;
export type GroupingLabel = (typeof GROUPING_LABELS)[number];
export type GroupingKey = Record<GroupingLabel, string>;

/** The gateway's own per-group gauge: when the group was last replaced. */
export const PUSH_TIME_METRIC = 'push_time_seconds';

export const LATENCY_STATS = ['min', 'mean', 'median', 'p99', 'max'] as const;
export type LatencyStat = (typeof LATENCY_STATS)[number];
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

export const BITS_PER_BYTE = 8;

export type PairField =
  | 'connectivity'
  | 'testTimestampSeconds'
  | 'durationSeconds'
  | 'lastSuccessTimestampSeconds'
  | 'failureInfo';

/** Where a metric's value goes in a PairMetrics. */
export type MetricTarget =
  | { kind: 'pair'; field: PairField }
  | { kind: 'latency'; stat: LatencyStat | 'lossRatio' }
  | { kind: 'throughput'; stat: ThroughputStat };

export interface MetricDef {
  name: string;
  help: string;
  labelNames: readonly string[];
  target: MetricTarget;
}

const pair = (name: string, field: PairField, help: string, extra: readonly string[] = []): MetricDef => ({
  name,
  help,
  labelNames: ['test', ...extra],
  target: { kind: 'pair', field },
});

export const PAIR_METRICS = {
  connectivity: pair(
    'netmon_connectivity',
    'connectivity',
    'Whether the last test of the pair reached the peer (1) or failed (0).',
  ),
  testTimestamp: pair(
    'netmon_test_timestamp_seconds',
    'testTimestampSeconds',
    'End time of the last test of the pair, in seconds since the Unix epoch.',
  ),
  duration: pair(
    'netmon_test_duration_seconds',
    'durationSeconds',
    'How long the last test of the pair took, in seconds.',
  ),
  lastSuccess: pair(
    'netmon_last_success_timestamp_seconds',
    'lastSuccessTimestampSeconds',
    'End time of the last successful test of the pair, in seconds since the Unix epoch.',
  ),
  failureInfo: pair(
    'netmon_failure_info',
    'failureInfo',
    'Always 1 when the last test of the pair failed; the reason label says why.',
    ['reason'],
  ),
} as const satisfies Record<string, MetricDef>;

const LATENCY_HELP: Record<LatencyStat, string> = {
  min: 'Minimum',
  mean: 'Mean',
  median: 'Median',
  p99: '99th percentile',
  max: 'Maximum',
};

function byStat<S extends string>(stats: readonly S[], make: (stat: S) => MetricDef): Record<S, MetricDef> {
  const defs: Partial<Record<S, MetricDef>> = {};
  for (const stat of stats) defs[stat] = make(stat);
  return defs as Record<S, MetricDef>;
}

export const LATENCY_METRICS: Readonly<Record<LatencyStat, MetricDef>> = byStat(LATENCY_STATS, (stat) => ({
  name: `netmon_latency_${stat}_seconds`,
  help: `${LATENCY_HELP[stat]} round-trip time of the probe series from src to dst, in seconds.`,
  labelNames: ['test', 'probe'],
  target: { kind: 'latency', stat },
}));

export const LOSS_METRIC: MetricDef = {
  name: 'netmon_latency_loss_ratio',
  help: 'Fraction of the probes of the series from src to dst that got no answer (0 to 1).',
  labelNames: ['test', 'probe'],
  target: { kind: 'latency', stat: 'lossRatio' },
};

const THROUGHPUT_HELP: Record<ThroughputStat, string> = {
  mean: 'Mean',
  median: 'Median',
  p99: '99th percentile',
};

export const THROUGHPUT_METRICS: Readonly<Record<ThroughputStat, MetricDef>> = byStat(
  THROUGHPUT_STATS,
  (stat) => ({
    name: `netmon_throughput_${stat}_bytes_per_second`,
    help: `${THROUGHPUT_HELP[stat]} TCP goodput of the pair in the direction of the direction label, in bytes per second (bit/s divided by 8).`,
    labelNames: ['test', 'direction'],
    target: { kind: 'throughput', stat },
  }),
);

export const ALL_METRICS: readonly MetricDef[] = [
  ...Object.values(PAIR_METRICS),
  ...Object.values(LATENCY_METRICS),
  LOSS_METRIC,
  ...Object.values(THROUGHPUT_METRICS),
];

const BY_NAME = new Map(ALL_METRICS.map((def) => [def.name, def]));

export function metricByName(name: string): MetricDef | undefined {
  return BY_NAME.get(name);
}

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

/**
 * A grouping-key value needs the gateway's base64 form when it contains '/'
 * (the path separator), is empty (an empty segment cannot be routed), or is a
 * dot segment (URL resolution would swallow "." and "..").
 */
export function needsBase64(value: string): boolean {
  return value === '' || value === '.' || value === '..' || value.includes('/');
}

/** The pushgateway's base64 form: URL-safe alphabet; "=" stands for the empty value. */
export function base64Value(value: string): string {
  return value === '' ? '=' : Buffer.from(value, 'utf8').toString('base64url');
}

/**
 * The grouping key as prom-client's `groupings` (which URL-encodes each key
 * and value): values that need it become `<label>@base64` keys.
 */
export function encodeGroupings(key: GroupingKey): Record<string, string> {
  const groupings: Record<string, string> = {};
  for (const label of GROUPING_LABELS) {
    const value = key[label];
    if (needsBase64(value)) groupings[`${label}@base64`] = base64Value(value);
    else groupings[label] = value;
  }
  return groupings;
}

/** The gateway path of the pair's group, as prom-client requests it. */
export function groupingPath(key: GroupingKey, job = JOB): string {
  const segments = Object.entries(encodeGroupings(key)).map(
    ([label, value]) => `/${encodeURIComponent(label)}/${encodeURIComponent(value)}`,
  );
  return `/metrics/job/${encodeURIComponent(job)}${segments.join('')}`;
}
