import type { SweepPair } from '../domain/sweep.ts';
import { parseBaseUrl } from './http.ts';
import { encodeLabels, PUSH_TIME_METRIC } from './names.ts';
import { type GaugeDef, pushGroup, type Sample } from './push.ts';
import { instantQuery, type QueryOptions } from './query.ts';

/**
 * The sweep's figures: one Pushgateway group per source node under its own
 * job (the tests' readers, job "netmon", never see them), replaced whole by
 * each sweep. Every series has src and dst labels.
 */
export const SWEEP_JOB = 'netmon_sweep';

/** The SweepPairMetrics field each gauge carries. */
type SweepField =
  | 'connectivity'
  | 'sent'
  | 'received'
  | 'lossRatio'
  | 'rttMinSeconds'
  | 'rttMedianSeconds'
  | 'rttP99Seconds'
  | 'underLoad'
  | 'sweptAtSeconds';
export interface SweepMetricDef extends GaugeDef {
  field: SweepField;
}

const def = (name: string, field: SweepField, help: string): SweepMetricDef => ({
  name,
  help,
  labelNames: ['src', 'dst'],
  field,
});

export const SWEEP_METRICS = {
  connectivity: def(
    'netmon_sweep_connectivity',
    'connectivity',
    "Whether any of the last sweep's echo requests from src to dst got an answer (1) or none did (0).",
  ),
  sent: def('netmon_sweep_probes_sent', 'sent', 'Echo requests the last sweep sent from src to dst.'),
  received: def(
    'netmon_sweep_probes_received',
    'received',
    'Echo replies from dst that src received in the last sweep.',
  ),
  loss: def(
    'netmon_sweep_loss_ratio',
    'lossRatio',
    "Fraction of the last sweep's echo requests from src to dst that got no answer (0 to 1).",
  ),
  rttMin: def(
    'netmon_sweep_rtt_min_seconds',
    'rttMinSeconds',
    'Minimum round-trip time of the last sweep from src to dst, in seconds.',
  ),
  rttMedian: def(
    'netmon_sweep_rtt_median_seconds',
    'rttMedianSeconds',
    'Median round-trip time of the last sweep from src to dst, in seconds.',
  ),
  rttP99: def(
    'netmon_sweep_rtt_p99_seconds',
    'rttP99Seconds',
    '99th percentile round-trip time of the last sweep from src to dst, in seconds.',
  ),
  underLoad: def(
    'netmon_sweep_under_load',
    'underLoad',
    '1 when src or dst was in a bandwidth test during the last sweep (its round-trip times include the queues of the test), else 0.',
  ),
  timestamp: def(
    'netmon_sweep_timestamp_seconds',
    'sweptAtSeconds',
    'End time of the last sweep from src to dst, in seconds since the Unix epoch.',
  ),
} as const satisfies Record<string, SweepMetricDef>;

const BY_NAME = new Map<string, SweepMetricDef>(Object.values(SWEEP_METRICS).map((d) => [d.name, d]));

function sampleValue(pair: SweepPair, field: SweepField, end: number): number | null {
  if (field === 'underLoad') return pair.underLoad ? 1 : 0;
  if (field === 'sweptAtSeconds') return end;
  return pair[field];
}

export function sweepSamples(pairs: readonly SweepPair[], endedAt: Date): Array<Sample<GaugeDef>> {
  const end = endedAt.getTime() / 1000;
  return pairs.flatMap((pair) =>
    Object.values(SWEEP_METRICS).flatMap((d) => {
      const value = sampleValue(pair, d.field, end);
      return value === null ? [] : [{ def: d, labels: { src: pair.src, dst: pair.dst }, value }];
    }),
  );
}

/** Replaces src's group with its pairs of this sweep. */
export async function pushSweep(
  gatewayUrl: string,
  src: string,
  pairs: readonly SweepPair[],
  endedAt: Date,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  parseBaseUrl(gatewayUrl);
  await pushGroup(
    gatewayUrl,
    SWEEP_JOB,
    encodeLabels({ src }),
    sweepSamples(pairs, endedAt),
    options.timeoutMs,
  );
}

/** A pair's latest sweep figures as Prometheus has them; pushTimeSeconds is src's group's push time. */
export interface SweepPairMetrics extends Omit<SweepPair, 'connectivity' | 'sent' | 'received'> {
  connectivity: 0 | 1 | null;
  sent: number | null;
  received: number | null;
  sweptAtSeconds: number | null;
  pushTimeSeconds: number | null;
}

/**
 * The latest sweep figures of every pair, sorted by src and dst (render and
 * the graph API: connectivity from the fresher of this and the tests').
 * Pushed values never go stale: compare sweptAtSeconds with the tests'
 * netmon_test_timestamp_seconds and with the wall clock.
 */
export async function querySweepPairs(
  prometheusUrl: string,
  options: Pick<QueryOptions, 'at' | 'timeoutMs'> = {},
): Promise<SweepPairMetrics[]> {
  const selector = `{job="${SWEEP_JOB}",__name__=~"netmon_sweep_.+|${PUSH_TIME_METRIC}"}`;
  const samples = await instantQuery(prometheusUrl, selector, options);
  const pairs = new Map<string, SweepPairMetrics>();
  const pushTimes = new Map<string, number>();
  for (const { metric, value } of samples) {
    const number = Number(value[1]);
    const figure = Number.isFinite(number) ? number : null;
    const src = metric.src ?? '';
    if (metric.__name__ === PUSH_TIME_METRIC) {
      if (figure !== null) pushTimes.set(src, figure);
      continue;
    }
    const known = BY_NAME.get(metric.__name__ ?? '');
    const dst = metric.dst;
    if (known === undefined || dst === undefined) continue;
    const id = JSON.stringify([src, dst]);
    const pair = pairs.get(id) ?? emptySweepPair(src, dst);
    pairs.set(id, pair);
    setField(pair, known.field, figure);
  }
  return [...pairs.values()]
    .map((pair) => ({ ...pair, pushTimeSeconds: pushTimes.get(pair.src) ?? null }))
    .sort((a, b) => a.src.localeCompare(b.src) || a.dst.localeCompare(b.dst));
}

function emptySweepPair(src: string, dst: string): SweepPairMetrics {
  return {
    src,
    dst,
    connectivity: null,
    sent: null,
    received: null,
    lossRatio: null,
    rttMinSeconds: null,
    rttMedianSeconds: null,
    rttP99Seconds: null,
    underLoad: false,
    sweptAtSeconds: null,
    pushTimeSeconds: null,
  };
}

function setField(pair: SweepPairMetrics, field: SweepField, value: number | null): void {
  if (field === 'underLoad') pair.underLoad = value === 1;
  else if (field === 'connectivity') pair.connectivity = value === 1 ? 1 : value === 0 ? 0 : null;
  else pair[field] = value;
}
