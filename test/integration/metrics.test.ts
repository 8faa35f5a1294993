import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrometheusStack, startPrometheusStack } from '../../infra/local-stack/prometheus.ts';
import { waitFor } from '../../layers/core/process.ts';
import type { FlentSummary } from '../../layers/domain/figures.ts';
import type { FailureReason } from '../../layers/domain/outcome.ts';
import type { TestRecord } from '../../layers/domain/record.ts';
import type { TestName } from '../../layers/domain/test-types.ts';
import { readArchiveFile } from '../../layers/flent/archive.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';
import { MetricsError } from '../../layers/metrics/errors.ts';
import { ALL_METRICS } from '../../layers/metrics/names.ts';
import { buildRegistry, pushRecord } from '../../layers/metrics/push.ts';
import {
  checkExposition,
  checkGatewayMetrics,
  instantQuery,
  type PairMetrics,
  queryLatestPairs,
} from '../../layers/metrics/query.ts';
import { pushRoundProgress } from '../../layers/metrics/rounds.ts';
import { SWEEP_METRICS } from '../../layers/metrics/sweep.ts';

/**
 * The metrics path against the real Debian Pushgateway and Prometheus: push
 * records built from real flent archives, read them back through Prometheus'
 * query API, and lint the gateway's exposition with promtool. No mocks.
 */

const fixture = (name: string): string => new URL(`../fixtures/flent/${name}`, import.meta.url).pathname;
const summaries: Record<string, FlentSummary> = {};

let stack: PrometheusStack;
let startedAt = 0;

beforeAll(async () => {
  startedAt = Date.now();
  stack = await startPrometheusStack();
  for (const name of ['tcp_upload', 'tcp_download', 'rrul', 'ping-lossy']) {
    summaries[name] = summarizeArchive(await readArchiveFile(fixture(`${name}.flent.gz`)));
  }
});

afterAll(async () => {
  if (stack === undefined) return;
  await stack.stop();
  // Nothing of the stack may outlive it: processes and temporary directory.
  for (const pid of stack.pids) expect(processExists(pid), `pid ${pid} still running`).toBe(false);
  expect(existsSync(stack.dir)).toBe(false);
});

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function summary(name: string): FlentSummary {
  const found = summaries[name];
  if (found === undefined) throw new Error(`fixture ${name} not loaded`);
  return found;
}

interface PairSpec {
  schedule?: string;
  src: string;
  dst: string;
  test: TestName;
}

function success(pair: PairSpec, fixtureName: string): TestRecord {
  const s = summary(fixtureName);
  return base(pair, { connectivity: 1, reason: null, summary: s, durationSeconds: s.totalLengthSeconds });
}

function failure(pair: PairSpec, reason: FailureReason): TestRecord {
  return base(pair, { connectivity: 0, reason, summary: null, durationSeconds: 4.5 });
}

function base(
  pair: PairSpec,
  outcome: Pick<TestRecord, 'connectivity' | 'reason' | 'summary' | 'durationSeconds'>,
): TestRecord {
  const end = new Date();
  return {
    version: 1,
    schedule: pair.schedule ?? 'default',
    round: 'round-1',
    src: pair.src,
    dst: pair.dst,
    test: pair.test,
    runId: `run-${end.getTime()}`,
    startTime: new Date(end.getTime() - outcome.durationSeconds * 1000).toISOString(),
    endTime: end.toISOString(),
    message: outcome.connectivity === 0 ? 'no answer' : null,
    exitCode: outcome.connectivity === 0 ? 1 : 0,
    stderrTail: null,
    archiveKey: null,
    ...outcome,
  };
}

const seconds = (iso: string): number => Date.parse(iso) / 1000;
const pairId = (p: { schedule: string; src: string; dst: string }): string =>
  `${p.schedule}:${p.src}>${p.dst}`;

/** Polls Prometheus until `ready` holds for the pairs it returns; returns them. */
async function waitForPairs(
  what: string,
  ready: (pairs: Map<string, PairMetrics>) => boolean,
  schedule?: string,
): Promise<Map<string, PairMetrics>> {
  let latest = new Map<string, PairMetrics>();
  await waitFor(
    what,
    async () => {
      const pairs = await queryLatestPairs(stack.prometheusUrl, schedule === undefined ? {} : { schedule });
      latest = new Map(pairs.map((p) => [pairId(p), p]));
      return ready(latest);
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  );
  return latest;
}

function pairOf(pairs: Map<string, PairMetrics>, record: TestRecord): PairMetrics {
  const found = pairs.get(pairId(record));
  if (found === undefined) throw new Error(`${pairId(record)} missing from Prometheus`);
  return found;
}

/** Prometheus shows exactly this record's push (its end time is unique per push). */
const shows = (pairs: Map<string, PairMetrics>, record: TestRecord): boolean =>
  pairs.get(pairId(record))?.testTimestampSeconds === seconds(record.endTime);

const upload = (): TestRecord => success({ src: 'node-a', dst: 'node-b', test: 'tcp_upload' }, 'tcp_upload');
const download = (): TestRecord =>
  success({ src: 'node-a', dst: 'node-c', test: 'tcp_download' }, 'tcp_download');
const rrul = (): TestRecord => success({ src: 'node-b', dst: 'rack-2/node-c', test: 'rrul' }, 'rrul');
const lossy = (): TestRecord => success({ src: 'node-c', dst: 'node-a', test: 'ping' }, 'ping-lossy');
const nightly = (): TestRecord =>
  success({ schedule: 'nightly', src: 'node-a', dst: 'node-b', test: 'rrul' }, 'rrul');

describe('metrics through the real Pushgateway and Prometheus', () => {
  const pushed: Record<string, TestRecord> = {};
  let beforePush = 0;
  let afterPush = 0;
  let snapshot = new Map<string, PairMetrics>();

  it('returns every pushed pair with the figures that were pushed', async () => {
    beforePush = Date.now() / 1000;
    Object.assign(pushed, { upload: upload(), download: download(), rrul: rrul(), lossy: lossy() });
    pushed.nightly = nightly();
    await Promise.all(Object.values(pushed).map((record) => pushRecord(stack.pushgatewayUrl, record)));
    afterPush = Date.now() / 1000;
    const records = Object.values(pushed);
    snapshot = await waitForPairs('all pushes in Prometheus', (pairs) =>
      records.every((r) => shows(pairs, r)),
    );
    expect([...snapshot.keys()].sort()).toEqual(records.map(pairId).sort());
    for (const record of records) {
      const pair = pairOf(snapshot, record);
      expect(pair).toMatchObject({ test: record.test, connectivity: 1, failureReason: null });
      expect(pair.durationSeconds).toBe(record.durationSeconds);
      expect(pair.lastSuccessTimestampSeconds).toBe(seconds(record.endTime));
      // The gateway's own push time: when the group was replaced, not when the test ended.
      expect(pair.pushTimeSeconds).toBeGreaterThanOrEqual(beforePush - 1);
      expect(pair.pushTimeSeconds).toBeLessThanOrEqual(afterPush + 1);
    }
  });

  it("keeps latency per probe in seconds, without flent's average", () => {
    const rrulPair = pairOf(snapshot, pushed.rrul as TestRecord);
    expect(Object.keys(rrulPair.latency).sort()).toEqual(['icmp', 'udp_be', 'udp_bk', 'udp_ef']);
    const rrulStats = summary('rrul').latency['Ping (ms) UDP EF'];
    expect(rrulPair.latency.udp_ef).toEqual({
      min: rrulStats?.min,
      mean: rrulStats?.mean,
      median: rrulStats?.median,
      p99: rrulStats?.p99,
      max: rrulStats?.max,
      lossRatio: rrulStats?.lossRatio,
    });
    const uploadPair = pairOf(snapshot, pushed.upload as TestRecord);
    expect(uploadPair.latency.icmp?.median).toBe(summary('tcp_upload').latency['Ping (ms) ICMP']?.median);
    expect(uploadPair.latency.icmp?.median).toBeLessThan(0.001);
  });

  it('keeps the loss ratio of a lossy ping test', () => {
    const pair = pairOf(snapshot, pushed.lossy as TestRecord);
    expect(Object.keys(pair.latency).sort()).toEqual(['icmp', 'udp']);
    expect(pair.latency.icmp?.lossRatio).toBe(summary('ping-lossy').latency['Ping (ms) ICMP']?.lossRatio);
    expect(pair.latency.icmp?.lossRatio).toBeCloseTo(1 / 3, 6);
    expect(pair.latency.udp?.lossRatio).toBeCloseTo(1 / 3, 6);
    expect(pair.throughput).toEqual({});
  });

  it('maps throughput to the direction of data flow, in bit/s', () => {
    const up = summary('tcp_upload').throughput.upload.total;
    expect(pairOf(snapshot, pushed.upload as TestRecord).throughput).toEqual({
      src_to_dst: { mean: up?.mean, median: up?.median, p99: up?.p99 },
    });
    const down = summary('tcp_download').throughput.download.total;
    expect(pairOf(snapshot, pushed.download as TestRecord).throughput).toEqual({
      dst_to_src: { mean: down?.mean, median: down?.median, p99: down?.p99 },
    });
    const both = summary('rrul').throughput;
    const rrulPair = pairOf(snapshot, pushed.rrul as TestRecord);
    expect(rrulPair.throughput.src_to_dst?.mean).toBe(both.upload.total?.mean);
    expect(rrulPair.throughput.dst_to_src?.mean).toBe(both.download.total?.mean);
    // The fixtures were shaped to ~10 Mbit/s up and ~20 Mbit/s down: bit/s, not bytes/s.
    expect(rrulPair.throughput.src_to_dst?.mean).toBeGreaterThan(5e6);
  });

  it('keeps a node name with "/" intact through the base64 grouping key', () => {
    expect(pairOf(snapshot, pushed.rrul as TestRecord).dst).toBe('rack-2/node-c');
  });

  it('filters by schedule and by evaluation time', async () => {
    const nightlyPairs = await queryLatestPairs(stack.prometheusUrl, { schedule: 'nightly' });
    expect(nightlyPairs.map(pairId)).toEqual(['nightly:node-a>node-b']);
    expect(nightlyPairs[0]?.test).toBe('rrul');
    expect(await queryLatestPairs(stack.prometheusUrl, { at: new Date(startedAt - 60_000) })).toEqual([]);
  });

  it('a failure replaces only that pair: figures gone, reason set, last success carried forward', async () => {
    const before = pushed.upload as TestRecord;
    const failed = failure({ src: 'node-a', dst: 'node-b', test: 'tcp_upload' }, 'unreachable');
    // Credentials in the URL go to the gateway as basic auth (this gateway ignores them).
    const withCredentials = stack.pushgatewayUrl.replace('http://', 'http://netmon:s3cret@');
    await pushRecord(withCredentials, failed);
    const pairs = await waitForPairs('the failure in Prometheus', (p) => shows(p, failed));
    const pair = pairOf(pairs, failed);
    expect(pair).toMatchObject({
      test: 'tcp_upload',
      connectivity: 0,
      failureReason: 'unreachable',
      durationSeconds: 4.5,
      testTimestampSeconds: seconds(failed.endTime),
      lastSuccessTimestampSeconds: seconds(before.endTime),
    });
    // toEqual, not toMatchObject: an empty object would match anything.
    expect(pair.latency).toEqual({});
    expect(pair.throughput).toEqual({});
    expect(pair.pushTimeSeconds).toBeGreaterThan(pairOf(snapshot, before).pushTimeSeconds ?? Number.NaN);
    for (const other of ['download', 'rrul', 'lossy', 'nightly']) {
      const record = pushed[other] as TestRecord;
      expect(pairOf(pairs, record), other).toEqual(pairOf(snapshot, record));
    }
    pushed.upload = failed;
  });

  it('a second failure still carries the last success, a first failure has none', async () => {
    const lastSuccess = pairOf(snapshot, upload()).lastSuccessTimestampSeconds;
    const again = failure({ src: 'node-a', dst: 'node-b', test: 'tcp_upload' }, 'timeout');
    const never = failure({ src: 'node-d', dst: 'node-a', test: 'ping' }, 'server-missing');
    await pushRecord(stack.pushgatewayUrl, again);
    await pushRecord(stack.pushgatewayUrl, never);
    const pairs = await waitForPairs('both failures', (p) => shows(p, again) && shows(p, never));
    expect(pairOf(pairs, again)).toMatchObject({
      failureReason: 'timeout',
      lastSuccessTimestampSeconds: lastSuccess,
    });
    expect(pairOf(pairs, never)).toMatchObject({
      connectivity: 0,
      failureReason: 'server-missing',
      lastSuccessTimestampSeconds: null,
    });
  });

  it('a success after a failure brings the figures back and clears the reason', async () => {
    const back = upload();
    await pushRecord(stack.pushgatewayUrl, back);
    const pairs = await waitForPairs('the recovery', (p) => shows(p, back));
    expect(pairOf(pairs, back)).toMatchObject({
      connectivity: 1,
      failureReason: null,
      lastSuccessTimestampSeconds: seconds(back.endTime),
    });
    expect(pairOf(pairs, back).throughput.src_to_dst?.mean).toBe(
      summary('tcp_upload').throughput.upload.total?.mean,
    );
  });

  it('says which mode measured the figures; after a change of mode the pair has one set of series, the newest', async () => {
    const pair = { schedule: 'modes', src: 'node-a', dst: 'node-b', test: 'tcp_upload' } as const;
    const serial: TestRecord = { ...success(pair, 'tcp_upload'), concurrency: 'serial' };
    await pushRecord(stack.pushgatewayUrl, serial);
    const first = await waitForPairs('the serial push', (p) => shows(p, serial), 'modes');
    expect(pairOf(first, serial)).toMatchObject({ concurrency: 'serial', connectivity: 1 });
    const disjoint: TestRecord = {
      ...failure(pair, 'timeout'),
      endTime: new Date(Date.parse(serial.endTime) + 1000).toISOString(),
      concurrency: 'disjoint',
    };
    await pushRecord(stack.pushgatewayUrl, disjoint);
    // Until Prometheus' next scrape marks the serial series stale it may hold both: the reader takes the newer.
    const second = await waitForPairs('the disjoint push', (p) => shows(p, disjoint), 'modes');
    expect(second.size).toBe(1);
    expect(pairOf(second, disjoint)).toMatchObject({
      concurrency: 'disjoint',
      connectivity: 0,
      failureReason: 'timeout',
      lastSuccessTimestampSeconds: seconds(serial.endTime),
    });
    expect(pairOf(second, disjoint).throughput).toEqual({});
    const modes = async (): Promise<string[]> =>
      (await instantQuery(stack.prometheusUrl, '{job="netmon",schedule="modes",__name__=~"netmon_.+"}'))
        .map((s) => s.metric.concurrency ?? '')
        .filter((mode, i, all) => all.indexOf(mode) === i);
    await waitFor('the serial series gone from Prometheus', async () => (await modes()).length === 1, {
      timeoutMs: 15_000,
      intervalMs: 250,
    });
    expect(await modes()).toEqual(['disjoint']);
  });

  it('a test that broke after a success keeps connectivity 1 and the figures, and shows its reason; the next measured test clears it', async () => {
    const pair = { schedule: 'broken', src: 'node-a', dst: 'node-b', test: 'tcp_upload' } as const;
    const ok = success(pair, 'tcp_upload');
    await pushRecord(stack.pushgatewayUrl, ok);
    const first = await waitForPairs('the success', (p) => shows(p, ok), 'broken');
    const measured = pairOf(first, ok);
    expect(measured).toMatchObject({ connectivity: 1, notMeasured: null });

    const later = (ms: number): string => new Date(Date.parse(ok.endTime) + ms).toISOString();
    const broke: TestRecord = {
      ...failure({ ...pair, test: 'rrul' }, 'oom-killed'),
      connectivity: null,
      endTime: later(1000),
      concurrency: 'disjoint',
    };
    const pushed = await pushRecord(stack.pushgatewayUrl, broke);
    expect(pushed.method).toBe('POST');
    expect(pushed.samples.map((s) => s.def.name)).toEqual(['netmon_not_measured_timestamp_seconds']);
    const brokeAt = seconds(broke.endTime);
    const second = await waitForPairs(
      'the broken test',
      (p) => p.get(pairId(broke))?.notMeasured?.testTimestampSeconds === brokeAt,
      'broken',
    );
    // One scrape of the gateway holds both: the connectivity and figures were never taken away.
    const kept = pairOf(second, broke);
    expect(kept).toMatchObject({
      test: 'tcp_upload',
      concurrency: 'serial',
      connectivity: 1,
      failureReason: null,
      testTimestampSeconds: seconds(ok.endTime),
      lastSuccessTimestampSeconds: seconds(ok.endTime),
      durationSeconds: ok.durationSeconds,
      notMeasured: {
        reason: 'oom-killed',
        test: 'rrul',
        concurrency: 'disjoint',
        testTimestampSeconds: brokeAt,
      },
    });
    expect(kept.throughput).toEqual(measured.throughput);
    expect(kept.latency).toEqual(measured.latency);
    expect(kept.pushTimeSeconds).toBeGreaterThanOrEqual(measured.pushTimeSeconds ?? Number.NaN);
    // Still so after more scrapes (one a second): nothing of the measured test went stale.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(
      (await instantQuery(stack.prometheusUrl, 'netmon_connectivity{schedule="broken"}')).map((s) => [
        s.metric.test,
        s.value[1],
      ]),
    ).toEqual([['tcp_upload', '1']]);

    // A pair whose only test broke: nothing measured, the reason known.
    const never: TestRecord = {
      ...failure({ ...pair, dst: 'node-c' }, 'store-unavailable'),
      connectivity: null,
    };
    await pushRecord(stack.pushgatewayUrl, never);
    const third = await waitForPairs(
      'the never-measured broken pair',
      (p) => p.get(pairId(never))?.notMeasured?.reason === 'store-unavailable',
      'broken',
    );
    expect(pairOf(third, never)).toMatchObject({
      connectivity: null,
      testTimestampSeconds: null,
      lastSuccessTimestampSeconds: null,
      notMeasured: { reason: 'store-unavailable', testTimestampSeconds: seconds(never.endTime) },
    });

    // A measured failure replaces the group: connectivity 0, the not-measured series gone.
    const cut: TestRecord = { ...failure(pair, 'unreachable'), endTime: later(2000) };
    expect((await pushRecord(stack.pushgatewayUrl, cut)).method).toBe('PUT');
    const fourth = await waitForPairs('the measured failure', (p) => shows(p, cut), 'broken');
    expect(pairOf(fourth, cut)).toMatchObject({
      connectivity: 0,
      failureReason: 'unreachable',
      lastSuccessTimestampSeconds: seconds(ok.endTime),
      notMeasured: null,
    });
  });

  it('promtool finds nothing wrong in the gateway exposition after all pushes', async () => {
    const text = await (await fetch(`${stack.pushgatewayUrl}/metrics`)).text();
    // Every kind of series is on the gateway now, failures included.
    for (const name of [
      'netmon_not_measured_timestamp_seconds',
      'netmon_failure_info',
      'netmon_latency_loss_ratio',
      'netmon_throughput_p99_bytes_per_second',
    ])
      expect(text).toContain(`# TYPE ${name} gauge`);
    expect(await checkGatewayMetrics(stack.pushgatewayUrl)).toEqual([]);
  });
});

describe('round progress', () => {
  const progress = (states: Array<'queued' | 'done' | 'failed' | 'skipped'>, closedAt: string | null) => ({
    schedule: 'rounds-test',
    round: '20261126T100000.000Z',
    openedAt: '2026-11-26T10:00:00.000Z',
    closedAt,
    pairs: states.map((state) => ({ state })),
  });
  const byState = async (): Promise<Record<string, number>> => {
    const samples = await instantQuery(stack.prometheusUrl, 'netmon_round_pairs{schedule="rounds-test"}');
    return Object.fromEntries(samples.map((s) => [s.metric.state, Number(s.value[1])]));
  };

  it('is pushed per schedule, replaced by each push, and kept out of the per-pair figures', async () => {
    await pushRoundProgress(stack.pushgatewayUrl, progress(['done', 'done', 'failed', 'queued'], null));
    await waitFor('the open round in Prometheus', async () => (await byState()).queued === 1, {
      timeoutMs: 15_000,
      intervalMs: 250,
    });
    expect(await byState()).toEqual({ queued: 1, done: 2, failed: 1, skipped: 0 });
    await pushRoundProgress(
      stack.pushgatewayUrl,
      progress(['done', 'done', 'failed', 'skipped'], '2026-11-26T10:05:00.000Z'),
    );
    await waitFor('the closed round in Prometheus', async () => (await byState()).queued === 0, {
      timeoutMs: 15_000,
      intervalMs: 250,
    });
    const closed = await instantQuery(
      stack.prometheusUrl,
      'netmon_round_closed_timestamp_seconds{schedule="rounds-test"}',
    );
    expect(closed.map((s) => Number(s.value[1]))).toEqual([Date.parse('2026-11-26T10:05:00Z') / 1000]);
    const pairs = await queryLatestPairs(stack.prometheusUrl, { schedule: 'rounds-test' });
    expect(pairs).toEqual([]);
    expect(await checkGatewayMetrics(stack.pushgatewayUrl)).toEqual([]);
  });
});

describe('metric names and promtool', () => {
  it('every defined metric (tests and sweep) passes promtool check metrics', async () => {
    const samples = [...ALL_METRICS, ...Object.values(SWEEP_METRICS)].map((def) => ({
      def,
      labels: Object.fromEntries(def.labelNames.map((label) => [label, 'x'])),
      value: 1,
    }));
    const exposition = await buildRegistry(samples).metrics();
    for (const { def } of samples) expect(exposition).toContain(`# HELP ${def.name} ${def.help}`);
    expect(await checkExposition(exposition)).toEqual([]);
  });

  it('promtool rejects the bits_per_second name (why throughput is in bytes)', async () => {
    const problems = await checkExposition(
      '# HELP netmon_throughput_mean_bits_per_second x\n# TYPE netmon_throughput_mean_bits_per_second gauge\nnetmon_throughput_mean_bits_per_second 1\n',
    );
    expect(problems).toEqual([
      'netmon_throughput_mean_bits_per_second use base unit "bytes" instead of "bits"',
    ]);
  });
});

describe('errors name the endpoint and the status, never the credentials', () => {
  it('a push to something that is not a gateway', async () => {
    const notAGateway = stack.prometheusUrl.replace('http://', 'http://netmon:s3cret@');
    const err = await pushRecord(notAGateway, upload()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    const { message, status, url } = err as MetricsError;
    expect(status).toBeGreaterThanOrEqual(400);
    expect(message).toContain(`HTTP ${status}`);
    expect(url).toContain('/metrics/job/netmon/schedule/default/src/node-a/dst/node-b');
    expect(message).toContain('***@127.0.0.1');
    expect(message).not.toContain('s3cret');
  });

  it('a refused connection', async () => {
    const closed = 'http://netmon:s3cret@127.0.0.1:1';
    const err = await queryLatestPairs(closed).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as MetricsError).status).toBeNull();
    expect((err as MetricsError).message).toMatch(
      /^query Prometheus at http:\/\/127\.0\.0\.1:1\/api\/v1\/query/,
    );
    expect((err as MetricsError).message).not.toContain('s3cret');
  });

  it("a query Prometheus refuses, with Prometheus' own reason", async () => {
    const err = await instantQuery(stack.prometheusUrl, 'sum(').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as MetricsError).status).toBe(400);
    expect((err as MetricsError).message).toMatch(/bad_data/);
  });
});
