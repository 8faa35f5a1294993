import { z } from 'zod';
import { errorLine } from '../core/errors.ts';
import { runProcess } from '../core/process.ts';
import type { FlowDirection, LatencyFigures, ThroughputFigures, ThroughputStat } from '../domain/figures.ts';
import type { PublishedOneWay } from '../domain/one-way.ts';
import { MetricsError, PromtoolError } from './errors.ts';
import { bodyTail, DEFAULT_TIMEOUT_MS, getJson, getText } from './http.ts';
import {
  BITS_PER_BYTE,
  JOB,
  type MetricTarget,
  metricByName,
  type OneWayField,
  PAIR_METRICS,
  PUSH_TIME_METRIC,
  TEST_LABELS,
} from './names.ts';

/**
 * Reading the latest figures of every pair back from Prometheus (instant
 * query). Pushed values never go stale in Prometheus: pushTimeSeconds (the
 * gateway's push_time_seconds of the pair's group) is how a reader tells a
 * fresh pair from one that has not been tested for a while. A test that
 * broke moves the push time too, but not testTimestampSeconds: that is the
 * end of the last test that measured.
 */

/** One probe's round-trip figures (seconds) and its loss (0..1 ratio). */
export interface ProbeFigures extends LatencyFigures {
  lossRatio: number | null;
}

/**
 * The pair's newest test when it measured nothing because the test itself
 * broke (an infrastructure reason of layers/domain/outcome.ts).
 */
export interface NotMeasuredTest {
  reason: string;
  /** The test that broke (it may differ from the measured figures' `test`). */
  test: string | null;
  concurrency: string | null;
  /** Its end, seconds since the Unix epoch. */
  testTimestampSeconds: number | null;
}

/**
 * One pair's latest figures. Every field but `notMeasured` and
 * `pushTimeSeconds` is of the pair's last measured test (a success, or a
 * finding about the network): a test that broke changes none of them.
 */
export interface PairMetrics {
  schedule: string;
  src: string;
  dst: string;
  test: string | null;
  /** How the last test's round ran: `serial` or `disjoint` (null: pushed before the label existed). */
  concurrency: string | null;
  /** null: never measured. */
  connectivity: 0 | 1 | null;
  failureReason: string | null;
  /** Set when the pair's newest test measured nothing (newer than testTimestampSeconds); null otherwise. */
  notMeasured: NotMeasuredTest | null;
  pushTimeSeconds: number | null;
  testTimestampSeconds: number | null;
  lastSuccessTimestampSeconds: number | null;
  durationSeconds: number | null;
  /** By probe label ("icmp", "udp_be"...); seconds and a 0..1 ratio. */
  latency: Record<string, ProbeFigures>;
  /** By direction of data flow; bit/s (the gauges carry bytes per second). */
  throughput: Partial<Record<FlowDirection, ThroughputFigures>>;
  /** udp_latency's one-way figures, when the pair's last test had them. */
  oneWay?: OneWayMetrics;
}

/** The published one-way figures as the gauges carry them (trusted null when its gauge is missing). */
export type OneWayMetrics = Pick<
  PublishedOneWay,
  'probe' | 'delaySeconds' | 'lossRatio' | 'clockOffsetSeconds' | 'clockErrorBoundSeconds'
> & { trusted: boolean | null };

export interface QueryOptions {
  /** Only this schedule's pairs (default: all). */
  schedule?: string;
  /** Evaluation time (default: now). */
  at?: Date;
  timeoutMs?: number;
}

export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

const successSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('vector'),
    result: z.array(
      z.object({ metric: z.record(z.string(), z.string()), value: z.tuple([z.number(), z.string()]) }),
    ),
  }),
});
const errorSchema = z.object({ status: z.literal('error'), errorType: z.string(), error: z.string() });

export async function queryLatestPairs(
  prometheusUrl: string,
  options: QueryOptions = {},
): Promise<PairMetrics[]> {
  return assemblePairs(await instantQuery(prometheusUrl, pairsSelector(options.schedule), options));
}

/** Every netmon series and the gateway's push times of the netmon groups. */
export function pairsSelector(schedule?: string): string {
  const matchers = [`job=${promqlString(JOB)}`, `__name__=~"netmon_.+|${PUSH_TIME_METRIC}"`];
  if (schedule !== undefined) matchers.push(`schedule=${promqlString(schedule)}`);
  return `{${matchers.join(',')}}`;
}

/** A PromQL string literal (JSON's escapes are a subset of PromQL's). */
function promqlString(value: string): string {
  return JSON.stringify(value);
}

export async function instantQuery(
  prometheusUrl: string,
  query: string,
  options: Pick<QueryOptions, 'at' | 'timeoutMs'> = {},
): Promise<VectorSample[]> {
  const params = new URLSearchParams({ query });
  if (options.at !== undefined) params.set('time', String(options.at.getTime() / 1000));
  const what = 'query Prometheus at';
  const path = `api/v1/query?${params}`;
  const { status, body } = await getJson(prometheusUrl, path, what, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const ok = successSchema.safeParse(body);
  if (status === 200 && ok.success) return ok.data.data.result;
  const failed = errorSchema.safeParse(body);
  const detail = failed.success
    ? `${failed.data.errorType}: ${failed.data.error}`
    : `unexpected answer: ${bodyTail(JSON.stringify(body))}`;
  throw new MetricsError(what, `${prometheusUrl.replace(/\/+$/, '')}/api/v1/query`, status, detail);
}

/** Groups query results by pair (schedule/src/dst), sorted by schedule, src, dst. */
export function assemblePairs(samples: readonly VectorSample[]): PairMetrics[] {
  const groups = new Map<string, VectorSample[]>();
  for (const sample of samples) {
    const labels = sample.metric;
    const id = JSON.stringify([labels.schedule ?? '', labels.src ?? '', labels.dst ?? '']);
    groups.set(id, [...(groups.get(id) ?? []), sample]);
  }
  const pairs = [...groups.entries()].map(([id, group]) => {
    const [schedule, src, dst] = JSON.parse(id) as [string, string, string];
    const pair = emptyPair(schedule, src, dst);
    for (const sample of newestVariant(group)) applySample(pair, sample.metric, sampleValue(sample.value[1]));
    dropOutdatedNotMeasured(pair);
    return pair;
  });
  return pairs.sort(
    (a, b) =>
      a.schedule.localeCompare(b.schedule) || a.src.localeCompare(b.src) || a.dst.localeCompare(b.dst),
  );
}

/**
 * The test and concurrency labels of a test series; null for the gateway's
 * push time (it has neither) and for the not-measured series (it names the
 * test that broke, beside the last measured test's series).
 */
function variantOf(sample: VectorSample): string | null {
  const name = sample.metric.__name__;
  if (name === PUSH_TIME_METRIC || name === PAIR_METRICS.notMeasured.name) return null;
  return JSON.stringify(TEST_LABELS.map((label) => sample.metric[label] ?? null));
}

/**
 * One pair's series under a single set of test labels: the set whose
 * netmon_test_timestamp_seconds is newest. A new test or concurrency mode
 * gives the pair new series; the gateway drops the old ones with the
 * group's next push, but Prometheus keeps them until its next scrape marks
 * them stale (or for its lookback when a scrape failed), so for a moment
 * it may answer with both. Without this, figures of the two would mix.
 */
export function newestVariant(samples: readonly VectorSample[]): VectorSample[] {
  const newest = new Map<string, number>();
  for (const sample of samples) {
    const variant = variantOf(sample);
    if (variant === null) continue;
    const isTime = sample.metric.__name__ === PAIR_METRICS.testTimestamp.name;
    const at = (isTime ? sampleValue(sample.value[1]) : null) ?? Number.NEGATIVE_INFINITY;
    newest.set(variant, Math.max(newest.get(variant) ?? Number.NEGATIVE_INFINITY, at));
  }
  if (newest.size <= 1) return [...samples];
  // Ties (no timestamps at all) go to the greatest label set: the same answer on every read.
  const ranked = [...newest.entries()].sort(([va, a], [vb, b]) => b - a || (va < vb ? 1 : va > vb ? -1 : 0));
  const winner = ranked[0]?.[0];
  return samples.filter((sample) => {
    const variant = variantOf(sample);
    return variant === null || variant === winner;
  });
}

function emptyPair(schedule: string, src: string, dst: string): PairMetrics {
  return {
    schedule,
    src,
    dst,
    test: null,
    concurrency: null,
    connectivity: null,
    failureReason: null,
    notMeasured: null,
    pushTimeSeconds: null,
    testTimestampSeconds: null,
    lastSuccessTimestampSeconds: null,
    durationSeconds: null,
    latency: {},
    throughput: {},
  };
}

/** Prometheus writes NaN and infinities as "NaN", "+Inf", "-Inf": none is a figure. */
function sampleValue(text: string): number | null {
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

function applySample(pair: PairMetrics, labels: Record<string, string>, value: number | null): void {
  const name = labels.__name__ ?? '';
  if (name === PUSH_TIME_METRIC) {
    pair.pushTimeSeconds = value;
    return;
  }
  if (name === PAIR_METRICS.notMeasured.name) {
    applyNotMeasured(pair, labels, value);
    return;
  }
  const def = metricByName(name);
  if (def === undefined) return;
  if (labels.test !== undefined) pair.test ??= labels.test;
  if (labels.concurrency !== undefined) pair.concurrency ??= labels.concurrency;
  applyTarget(pair, def.target, labels, value);
}

/** The newest not-measured test (Prometheus may hold two for a scrape, when the reason or test changed). */
function applyNotMeasured(pair: PairMetrics, labels: Record<string, string>, value: number | null): void {
  const known = pair.notMeasured;
  if (known !== null && (value === null || (known.testTimestampSeconds ?? Number.NEGATIVE_INFINITY) > value))
    return;
  pair.notMeasured = {
    reason: labels.reason ?? 'unknown',
    test: labels.test ?? null,
    concurrency: labels.concurrency ?? null,
    testTimestampSeconds: value,
  };
}

/**
 * A not-measured test older than the last measured one is over: the
 * measured test's PUT removed it from the gateway, and Prometheus holds it
 * only until its next scrape.
 */
function dropOutdatedNotMeasured(pair: PairMetrics): void {
  const broke = pair.notMeasured?.testTimestampSeconds ?? null;
  const measured = pair.testTimestampSeconds;
  if (broke !== null && measured !== null && broke <= measured) pair.notMeasured = null;
}

function applyTarget(
  pair: PairMetrics,
  target: MetricTarget,
  labels: Record<string, string>,
  value: number | null,
): void {
  switch (target.kind) {
    case 'pair':
      applyPairField(pair, target.field, labels, value);
      return;
    case 'latency':
      if (labels.probe !== undefined) latencyOf(pair, labels.probe)[target.stat] = value;
      return;
    case 'throughput': {
      const direction = labels.direction;
      if (direction === 'src_to_dst' || direction === 'dst_to_src')
        setThroughput(pair, direction, target.stat, value === null ? null : value * BITS_PER_BYTE);
      return;
    }
    case 'oneWay':
      setOneWay(pair, target.field, labels, value);
      return;
  }
}

function setOneWay(
  pair: PairMetrics,
  field: OneWayField,
  labels: Record<string, string>,
  value: number | null,
): void {
  pair.oneWay ??= {
    probe: labels.probe ?? '',
    delaySeconds: { src_to_dst: null, dst_to_src: null },
    lossRatio: { src_to_dst: null, dst_to_src: null },
    clockOffsetSeconds: null,
    clockErrorBoundSeconds: null,
    trusted: null,
  };
  const oneWay = pair.oneWay;
  if (labels.probe !== undefined) oneWay.probe = labels.probe;
  const direction = labels.direction;
  switch (field) {
    case 'delaySeconds':
    case 'lossRatio':
      if (direction === 'src_to_dst' || direction === 'dst_to_src') oneWay[field][direction] = value;
      return;
    case 'trusted':
      oneWay.trusted = value === null ? null : value === 1;
      return;
    default:
      oneWay[field] = value;
  }
}

function applyPairField(
  pair: PairMetrics,
  field: Extract<MetricTarget, { kind: 'pair' }>['field'],
  labels: Record<string, string>,
  value: number | null,
): void {
  switch (field) {
    case 'connectivity':
      pair.connectivity = value === 1 ? 1 : value === 0 ? 0 : null;
      return;
    case 'failureInfo':
      if (value === 1) pair.failureReason = labels.reason ?? null;
      return;
    case 'notMeasured':
      applyNotMeasured(pair, labels, value);
      return;
    default:
      pair[field] = value;
  }
}

function latencyOf(pair: PairMetrics, probe: string): ProbeFigures {
  let figures = pair.latency[probe];
  if (figures === undefined) {
    figures = { min: null, mean: null, median: null, p99: null, max: null, lossRatio: null };
    pair.latency[probe] = figures;
  }
  return figures;
}

function setThroughput(
  pair: PairMetrics,
  direction: FlowDirection,
  stat: ThroughputStat,
  value: number | null,
): void {
  const figures = pair.throughput[direction] ?? { mean: null, median: null, p99: null };
  figures[stat] = value;
  pair.throughput[direction] = figures;
}

/**
 * Problems `promtool check metrics` finds in the gateway's exposition (its
 * own metrics and every pushed group); empty when it is clean.
 */
export async function checkGatewayMetrics(
  gatewayUrl: string,
  options: { timeoutMs?: number } = {},
): Promise<string[]> {
  const text = await getText(
    gatewayUrl,
    'metrics',
    'read the exposition of',
    options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  );
  return checkExposition(text);
}

/** Problems `promtool check metrics` finds in an exposition text; empty when it is clean. */
export async function checkExposition(text: string, promtool = 'promtool'): Promise<string[]> {
  let result: Awaited<ReturnType<typeof runProcess>>;
  try {
    result = await runProcess([promtool, 'check', 'metrics'], { input: text, timeoutMs: 30_000 });
  } catch (err) {
    throw new PromtoolError(
      `cannot run ${promtool} (${errorLine(err)}); install prometheus: bash infra/system/install.sh`,
      {
        cause: err,
      },
    );
  }
  const lines = `${result.stdout}\n${result.stderr}`
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (result.exitCode === 0) return lines;
  return lines.length > 0 ? lines : [`promtool exited ${result.exitCode ?? result.signal} without a message`];
}
