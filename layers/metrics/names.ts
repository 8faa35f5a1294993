import { LATENCY_STATS, type LatencyStat, THROUGHPUT_STATS, type ThroughputStat } from '../domain/figures.ts';

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

export const BITS_PER_BYTE = 8;

/**
 * Labels every test series carries: the Flent test, and how its round ran
 * (`serial`: alone in the cluster; `disjoint`: beside its slot's other
 * pairs, layers/domain/schedule.ts). A change of either gives the pair new
 * series; the group's PUT removes the old ones from the gateway, and the
 * reader keeps only the newest set should Prometheus still hold both
 * (query.ts, newestVariant). netmon_not_measured_timestamp_seconds stands
 * apart: it names the test that broke, whatever the measured set's labels.
 */
export const TEST_LABELS = ['test', 'concurrency'] as const;

export type PairField =
  | 'connectivity'
  | 'testTimestampSeconds'
  | 'durationSeconds'
  | 'lastSuccessTimestampSeconds'
  | 'failureInfo'
  | 'notMeasured';

export type OneWayField =
  | 'delaySeconds'
  | 'lossRatio'
  | 'clockOffsetSeconds'
  | 'clockErrorBoundSeconds'
  | 'trusted';

/** Where a metric's value goes in a PairMetrics. */
export type MetricTarget =
  | { kind: 'pair'; field: PairField }
  | { kind: 'latency'; stat: LatencyStat | 'lossRatio' }
  | { kind: 'throughput'; stat: ThroughputStat }
  | { kind: 'oneWay'; field: OneWayField };

export interface MetricDef {
  name: string;
  help: string;
  labelNames: readonly string[];
  target: MetricTarget;
}

const pair = (name: string, field: PairField, help: string, extra: readonly string[] = []): MetricDef => ({
  name,
  help,
  labelNames: [...TEST_LABELS, ...extra],
  target: { kind: 'pair', field },
});

/**
 * The pair's series describe its last measured test: one that reached the
 * peer or found the network failing. A test that broke (an infrastructure
 * reason, layers/domain/outcome.ts) measured nothing: it adds only
 * netmon_not_measured_timestamp_seconds to the group (a POST, push.ts) and
 * leaves every other series as the last measured test set it, so Prometheus
 * keeps the pair's last connectivity and figures.
 */
export const PAIR_METRICS = {
  connectivity: pair(
    'netmon_connectivity',
    'connectivity',
    'Whether the last measured test of the pair reached the peer (1) or found the network failing (0); a test that broke leaves it as it was (see netmon_not_measured_timestamp_seconds).',
  ),
  testTimestamp: pair(
    'netmon_test_timestamp_seconds',
    'testTimestampSeconds',
    'End time of the last measured test of the pair, in seconds since the Unix epoch.',
  ),
  duration: pair(
    'netmon_test_duration_seconds',
    'durationSeconds',
    'How long the last measured test of the pair took, in seconds.',
  ),
  lastSuccess: pair(
    'netmon_last_success_timestamp_seconds',
    'lastSuccessTimestampSeconds',
    'End time of the last successful test of the pair, in seconds since the Unix epoch.',
  ),
  failureInfo: pair(
    'netmon_failure_info',
    'failureInfo',
    'Always 1 when the last measured test of the pair found the network failing; the reason label says why (unreachable, timeout, server-missing).',
    ['reason'],
  ),
  notMeasured: pair(
    'netmon_not_measured_timestamp_seconds',
    'notMeasured',
    "End time of the pair's newest test when it measured nothing because the test itself broke (the reason label: tool-error, oom-killed, deadline-exceeded, store-unavailable), in seconds since the Unix epoch; absent once a later test measured. The pair's other series are then its last measured test's.",
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
  labelNames: [...TEST_LABELS, 'probe'],
  target: { kind: 'latency', stat },
}));

export const LOSS_METRIC: MetricDef = {
  name: 'netmon_latency_loss_ratio',
  help: 'Fraction of the probes of the series from src to dst that got no answer (0 to 1).',
  labelNames: [...TEST_LABELS, 'probe'],
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
    labelNames: [...TEST_LABELS, 'direction'],
    target: { kind: 'throughput', stat },
  }),
);

/**
 * udp_latency's published one-way figures (layers/domain/one-way.ts): a
 * delay only when not negative, and never without the clocks' bound and
 * whether it makes the delays trustworthy.
 */
export const ONE_WAY_METRICS = {
  delay: {
    name: 'netmon_one_way_delay_seconds',
    help: 'Median one-way delay of the probe in the direction of the direction label, in seconds (absent when the clocks make it negative); see netmon_one_way_delay_trusted.',
    labelNames: [...TEST_LABELS, 'probe', 'direction'],
    target: { kind: 'oneWay', field: 'delaySeconds' },
  },
  loss: {
    name: 'netmon_one_way_loss_ratio',
    help: 'Fraction of the probe packets sent that were lost in the direction of the direction label (0 to 1).',
    labelNames: [...TEST_LABELS, 'probe', 'direction'],
    target: { kind: 'oneWay', field: 'lossRatio' },
  },
  clockOffset: {
    name: 'netmon_clock_offset_seconds',
    help: "dst's clock minus src's as the median one-way delays imply it, assuming a path as long both ways, in seconds.",
    labelNames: [...TEST_LABELS, 'probe'],
    target: { kind: 'oneWay', field: 'clockOffsetSeconds' },
  },
  clockErrorBound: {
    name: 'netmon_clock_error_bound_seconds',
    help: "Bound on the error of the pair's one-way delays: both ends' clock error bounds added (0 when both read one clock), in seconds.",
    labelNames: [...TEST_LABELS],
    target: { kind: 'oneWay', field: 'clockErrorBoundSeconds' },
  },
  trusted: {
    name: 'netmon_one_way_delay_trusted',
    help: "1 when the pair's one-way delays can be trusted (one clock, or synchronised clocks whose bounds add up to at most 10 % of min RTT / 2), else 0.",
    labelNames: [...TEST_LABELS],
    target: { kind: 'oneWay', field: 'trusted' },
  },
} as const satisfies Record<string, MetricDef>;

export const ALL_METRICS: readonly MetricDef[] = [
  ...Object.values(PAIR_METRICS),
  ...Object.values(LATENCY_METRICS),
  LOSS_METRIC,
  ...Object.values(THROUGHPUT_METRICS),
  ...Object.values(ONE_WAY_METRICS),
];

const BY_NAME = new Map(ALL_METRICS.map((def) => [def.name, def]));

export function metricByName(name: string): MetricDef | undefined {
  return BY_NAME.get(name);
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
 * A group's labels as prom-client's `groupings` (which URL-encodes each key
 * and value): values that need it become `<label>@base64` keys.
 */
export function encodeLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const groupings: Record<string, string> = {};
  for (const [label, value] of Object.entries(labels)) {
    if (needsBase64(value)) groupings[`${label}@base64`] = base64Value(value);
    else groupings[label] = value;
  }
  return groupings;
}

/** The pair's grouping key (schedule, src, dst, in that order) as prom-client's `groupings`. */
export function encodeGroupings(key: GroupingKey): Record<string, string> {
  return encodeLabels(Object.fromEntries(GROUPING_LABELS.map((label) => [label, key[label]])));
}

/** The gateway path of a group, as prom-client requests it (the pair's, by default). */
export function groupingPath(key: GroupingKey | Readonly<Record<string, string>>, job = JOB): string {
  const segments = Object.entries(encodeLabels(key)).map(
    ([label, value]) => `/${encodeURIComponent(label)}/${encodeURIComponent(value)}`,
  );
  return `/metrics/job/${encodeURIComponent(job)}${segments.join('')}`;
}
