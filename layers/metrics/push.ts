import { Gauge, Pushgateway, Registry } from 'prom-client';
import { z } from 'zod';
import { errorLine, ValidationError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { redactUrl } from '../core/redact.ts';
import {
  FLOW_DIRECTIONS,
  LATENCY_STATS,
  latencyProbes,
  THROUGHPUT_STATS,
  throughputFlows,
} from '../domain/figures.ts';
import type { TestRecord } from '../domain/record.ts';
import { SERIAL } from '../domain/schedule.ts';
import { MetricsError } from './errors.ts';
import { bodyTail, DEFAULT_TIMEOUT_MS, getJson, parseBaseUrl } from './http.ts';
import {
  BITS_PER_BYTE,
  encodeGroupings,
  type GroupingKey,
  groupingPath,
  JOB,
  LATENCY_METRICS,
  LOSS_METRIC,
  type MetricDef,
  ONE_WAY_METRICS,
  PAIR_METRICS,
  THROUGHPUT_METRICS,
} from './names.ts';

/**
 * Pushing one TestRecord to the Pushgateway. Each pair is its own group
 * (job/schedule/src/dst). A measured test (a success, or a finding about
 * the network) is a PUT: it replaces the whole group, so a failure removes
 * the pair's old latency and throughput series. A test that broke and
 * measured nothing (connectivity null) is a POST of its one
 * netmon_not_measured_timestamp_seconds series: the gateway replaces only
 * series of that name, so the pair's connectivity, figures and last success
 * stay as the last measured test left them (Prometheus keeps scraping them),
 * and the next measured test's PUT removes the not-measured series.
 */

/** What a gauge needs to be declared: the pair readers' MetricDef has more (where the value goes). */
export type GaugeDef = Pick<MetricDef, 'name' | 'help' | 'labelNames'>;

export interface Sample<D extends GaugeDef = MetricDef> {
  def: D;
  labels: Record<string, string>;
  value: number;
}

export interface PushOptions {
  /** Per request (default 10 s). */
  timeoutMs?: number;
}

export interface PushResult {
  key: GroupingKey;
  /** The gateway path that was pushed to. */
  path: string;
  /** PUT: the group was replaced (a measured test); POST: only the pushed series were (a test that broke). */
  method: PushMethod;
  samples: Sample[];
}

/** PUT replaces a whole group; POST only the group's series of the pushed names. */
export type PushMethod = 'PUT' | 'POST';

export function groupingKeyOf(record: Pick<TestRecord, 'schedule' | 'src' | 'dst'>): GroupingKey {
  return { schedule: record.schedule, src: record.src, dst: record.dst };
}

export async function pushRecord(
  gatewayUrl: string,
  record: TestRecord,
  options: PushOptions = {},
): Promise<PushResult> {
  parseBaseUrl(gatewayUrl);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const key = groupingKeyOf(record);
  // A failure carries the last success forward (the record's own, else the gateway's: a read of every
  // group); a success is its own last success; a test that broke pushes none (the gateway keeps its own).
  const previous =
    record.connectivity !== 0
      ? null
      : record.lastSuccessTime !== undefined
        ? lastSuccessSeconds(record.lastSuccessTime)
        : await readLastSuccess(gatewayUrl, key, options);
  const samples = recordSamples(record, previous);
  const path = groupingPath(key);
  const method: PushMethod = record.connectivity === null ? 'POST' : 'PUT';
  await pushGroup(gatewayUrl, JOB, encodeGroupings(key), samples, timeoutMs, method);
  log.debug({ gateway: redactUrl(gatewayUrl), path, method, samples: samples.length }, 'pushed pair metrics');
  return { key, path, method, samples };
}

/**
 * The figures of one record as gauge samples, in base units (throughput in
 * bytes/s). A record that measured nothing (connectivity null) gives only
 * its netmon_not_measured_timestamp_seconds: it is pushed beside the last
 * measured test's series (a POST), never in place of them.
 */
export function recordSamples(record: TestRecord, previousLastSuccess: number | null): Sample[] {
  const end = epochSeconds(record.endTime, 'endTime');
  // Records from before disjoint rounds carry no mode: they ran serially, the only mode there was.
  const test = { test: record.test, concurrency: record.concurrency ?? SERIAL.mode };
  const samples: Sample[] = [];
  const add: AddSample = (def, labels, value) => {
    if (value !== null && Number.isFinite(value)) samples.push({ def, labels, value });
  };
  if (record.connectivity === null) {
    add(PAIR_METRICS.notMeasured, { ...test, reason: record.reason ?? 'unknown' }, end);
    return samples;
  }
  add(PAIR_METRICS.connectivity, test, record.connectivity);
  add(PAIR_METRICS.testTimestamp, test, end);
  add(PAIR_METRICS.duration, test, record.durationSeconds);
  add(PAIR_METRICS.lastSuccess, test, record.connectivity === 1 ? end : previousLastSuccess);
  if (record.connectivity === 0) {
    add(PAIR_METRICS.failureInfo, { ...test, reason: record.reason ?? 'unknown' }, 1);
    return samples;
  }
  figureSamples(record, test, add);
  return samples;
}

type AddSample = (def: MetricDef, labels: Record<string, string>, value: number | null) => void;

/** A success's latency, throughput and one-way figures. */
function figureSamples(record: TestRecord, test: Record<string, string>, add: AddSample): void {
  if (record.summary === null) return;
  for (const { probe, stats } of latencyProbes(record.summary)) {
    for (const stat of LATENCY_STATS) add(LATENCY_METRICS[stat], { ...test, probe }, stats[stat]);
    add(LOSS_METRIC, { ...test, probe }, stats.lossRatio);
  }
  for (const { direction, stats } of throughputFlows(record.summary)) {
    for (const stat of THROUGHPUT_STATS) {
      const bits = stats[stat];
      add(THROUGHPUT_METRICS[stat], { ...test, direction }, bits === null ? null : bits / BITS_PER_BYTE);
    }
  }
  const oneWay = record.oneWay;
  if (oneWay === null || oneWay === undefined) return;
  const probe = { ...test, probe: oneWay.probe };
  for (const direction of FLOW_DIRECTIONS) {
    add(ONE_WAY_METRICS.delay, { ...probe, direction }, oneWay.delaySeconds[direction]);
    add(ONE_WAY_METRICS.loss, { ...probe, direction }, oneWay.lossRatio[direction]);
  }
  add(ONE_WAY_METRICS.clockOffset, probe, oneWay.clockOffsetSeconds);
  add(ONE_WAY_METRICS.clockErrorBound, test, oneWay.clockErrorBoundSeconds);
  add(ONE_WAY_METRICS.trusted, test, oneWay.trusted ? 1 : 0);
}

/**
 * Replaces one group of the gateway with these samples (a PUT), or with
 * POST only the group's series of the samples' names; a refusal becomes a
 * MetricsError naming the group's URL and the gateway's answer.
 */
export async function pushGroup(
  gatewayUrl: string,
  job: string,
  groupings: Record<string, string>,
  samples: ReadonlyArray<Sample<GaugeDef>>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
  method: PushMethod = 'PUT',
): Promise<void> {
  const gateway = new Pushgateway(gatewayUrl, { timeout: timeoutMs }, buildRegistry(samples));
  try {
    if (method === 'POST') await gateway.pushAdd({ jobName: job, groupings });
    else await gateway.push({ jobName: job, groupings });
  } catch (err) {
    // prom-client reports HTTP failures only as "push failed with status N, <body>".
    const message = errorLine(err);
    const status = /status (\d{3})/.exec(message)?.[1];
    const segments = Object.entries(groupings).map(
      ([label, value]) => `/${encodeURIComponent(label)}/${encodeURIComponent(value)}`,
    );
    const url = joinUrl(gatewayUrl, `/metrics/job/${encodeURIComponent(job)}${segments.join('')}`);
    throw new MetricsError('push to', url, status ? Number(status) : null, bodyTail(message), { cause: err });
  }
}

/** A fresh registry per push: nothing of an earlier pair can leak into this one. */
export function buildRegistry(samples: ReadonlyArray<Sample<GaugeDef>>): Registry {
  const registry = new Registry();
  const gauges = new Map<string, Gauge>();
  for (const { def, labels, value } of samples) {
    let gauge = gauges.get(def.name);
    if (gauge === undefined) {
      gauge = new Gauge({
        name: def.name,
        help: def.help,
        labelNames: [...def.labelNames],
        registers: [registry],
      });
      gauges.set(def.name, gauge);
    }
    gauge.set(labels, value);
  }
  return registry;
}

const familySchema = z.object({
  metrics: z.array(z.object({ labels: z.record(z.string(), z.string()), value: z.string() })),
});
const groupsSchema = z.object({
  status: z.literal('success'),
  data: z.array(z.looseObject({ labels: z.record(z.string(), z.string()) })),
});

/** The pair's current netmon_last_success_timestamp_seconds on the gateway, or null if it has none. */
export async function readLastSuccess(
  gatewayUrl: string,
  key: GroupingKey,
  options: PushOptions = {},
): Promise<number | null> {
  const what = 'read the groups of';
  const { status, body } = await getJson(
    gatewayUrl,
    'api/v1/metrics',
    what,
    options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  );
  const parsed = groupsSchema.safeParse(body);
  const url = joinUrl(gatewayUrl, '/api/v1/metrics');
  if (status !== 200 || !parsed.success)
    throw new MetricsError(what, url, status, `unexpected answer: ${bodyTail(JSON.stringify(body))}`);
  const group = parsed.data.data.find(
    (g) =>
      g.labels.job === JOB &&
      g.labels.schedule === key.schedule &&
      (g.labels.src ?? '') === key.src &&
      (g.labels.dst ?? '') === key.dst,
  );
  const family = familySchema.safeParse(group?.[PAIR_METRICS.lastSuccess.name]);
  if (!family.success) return null;
  const values = family.data.metrics.map((m) => Number(m.value)).filter(Number.isFinite);
  return values.length > 0 ? Math.max(...values) : null;
}

function lastSuccessSeconds(time: string | null): number | null {
  return time === null ? null : epochSeconds(time, 'lastSuccessTime');
}

function epochSeconds(iso: string, field: string): number {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new ValidationError(field, iso, 'an ISO 8601 time');
  return ms / 1000;
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}
