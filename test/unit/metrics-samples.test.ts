import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../layers/core/redact.ts';
import type { FlentSummary } from '../../layers/domain/figures.ts';
import {
  FAILURE_REASONS,
  failureConnectivity,
  INFRA_REASONS,
  isNetworkFailure,
  NETWORK_REASONS,
} from '../../layers/domain/outcome.ts';
import type { TestRecord } from '../../layers/domain/record.ts';
import type { TestName } from '../../layers/domain/test-types.ts';
import { readArchiveFile } from '../../layers/flent/archive.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';
import { MetricsError } from '../../layers/metrics/errors.ts';
import { endpoint } from '../../layers/metrics/http.ts';
import { recordSamples, type Sample } from '../../layers/metrics/push.ts';
import { assemblePairs, pairsSelector, type VectorSample } from '../../layers/metrics/query.ts';

const fixture = (name: string): string => new URL(`../fixtures/flent/${name}`, import.meta.url).pathname;
const summaryOf = async (name: string): Promise<FlentSummary> =>
  summarizeArchive(await readArchiveFile(fixture(`${name}.flent.gz`)));

const END = '2026-11-26T08:00:00.000Z';
const END_SECONDS = Date.parse(END) / 1000;

function record(test: TestName, summary: FlentSummary | null): TestRecord {
  return {
    version: 1,
    schedule: 'default',
    round: 'r1',
    src: 'a',
    dst: 'b',
    test,
    runId: 'run-1',
    startTime: '2026-11-26T07:59:47.000Z',
    endTime: END,
    durationSeconds: 13,
    connectivity: summary === null ? 0 : 1,
    reason: summary === null ? 'unreachable' : null,
    message: null,
    exitCode: summary === null ? 1 : 0,
    stderrTail: null,
    archiveKey: null,
    summary,
  };
}

const find = (samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] =>
  samples.filter((s) => s.def.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

describe('samples of a record', () => {
  it('tcp_download: throughput dst_to_src in bytes/s, latency per probe in seconds', async () => {
    const summary = await summaryOf('tcp_download');
    const samples = recordSamples(record('tcp_download', summary), null);
    const mean = find(samples, 'netmon_throughput_mean_bytes_per_second');
    expect(mean).toHaveLength(1);
    expect(mean[0]?.labels).toEqual({
      test: 'tcp_download',
      concurrency: 'serial',
      direction: 'dst_to_src',
    });
    expect(mean[0]?.value).toBe((summary.throughput.download.total?.mean ?? Number.NaN) / 8);
    const median = find(samples, 'netmon_latency_median_seconds', { probe: 'icmp' });
    expect(median[0]?.value).toBe(summary.latency['Ping (ms) ICMP']?.median);
    expect(find(samples, 'netmon_connectivity')[0]?.value).toBe(1);
    expect(find(samples, 'netmon_test_timestamp_seconds')[0]?.value).toBe(END_SECONDS);
    expect(find(samples, 'netmon_last_success_timestamp_seconds')[0]?.value).toBe(END_SECONDS);
    expect(find(samples, 'netmon_failure_info')).toEqual([]);
  });

  it('ping: loss ratio per probe, no throughput, no average probe', async () => {
    const samples = recordSamples(record('ping', await summaryOf('ping-lossy')), null);
    const loss = find(samples, 'netmon_latency_loss_ratio');
    expect(loss.map((s) => s.labels.probe)).toEqual(['icmp', 'udp']);
    expect(loss[0]?.value).toBeCloseTo(1 / 3, 9);
    expect(samples.some((s) => s.def.target.kind === 'throughput')).toBe(false);
  });

  it('rrul: no loss ratio where flent has none, and no probe "avg"', async () => {
    const samples = recordSamples(record('rrul', await summaryOf('rrul')), null);
    expect(samples.some((s) => s.labels.probe === 'avg')).toBe(false);
    expect(find(samples, 'netmon_throughput_p99_bytes_per_second').map((s) => s.labels.direction)).toEqual([
      'src_to_dst',
      'dst_to_src',
    ]);
  });

  it('a failure: connectivity 0, reason, the previous last success, no figures', () => {
    const samples = recordSamples(record('rrul', null), 1_700_000_000);
    expect(samples.map((s) => s.def.name).sort()).toEqual([
      'netmon_connectivity',
      'netmon_failure_info',
      'netmon_last_success_timestamp_seconds',
      'netmon_test_duration_seconds',
      'netmon_test_timestamp_seconds',
    ]);
    expect(find(samples, 'netmon_connectivity')[0]?.value).toBe(0);
    expect(find(samples, 'netmon_failure_info')[0]?.labels).toEqual({
      test: 'rrul',
      concurrency: 'serial',
      reason: 'unreachable',
    });
    expect(find(samples, 'netmon_last_success_timestamp_seconds')[0]?.value).toBe(1_700_000_000);
  });

  it('a test that broke (connectivity null): only its not-measured series, no connectivity, figures or last success', () => {
    const broke: TestRecord = { ...record('tcp_upload', null), connectivity: null, reason: 'oom-killed' };
    const samples = recordSamples(broke, 1_700_000_000);
    expect(samples.map((s) => [s.def.name, s.labels, s.value])).toEqual([
      [
        'netmon_not_measured_timestamp_seconds',
        { test: 'tcp_upload', concurrency: 'serial', reason: 'oom-killed' },
        END_SECONDS,
      ],
    ]);
  });

  it('every infrastructure reason is not measured, every network reason is connectivity 0', () => {
    for (const reason of INFRA_REASONS) {
      expect(failureConnectivity(reason), reason).toBeNull();
      expect(isNetworkFailure(reason), reason).toBe(false);
    }
    for (const reason of NETWORK_REASONS) {
      expect(failureConnectivity(reason), reason).toBe(0);
      expect(isNetworkFailure(reason), reason).toBe(true);
    }
    expect([...NETWORK_REASONS, ...INFRA_REASONS].sort()).toEqual([...FAILURE_REASONS].sort());
    expect(INFRA_REASONS).toContain('store-unavailable');
    // An unknown reason (a newer writer's, or none) never paints a pair red.
    expect([isNetworkFailure('cosmic-rays'), isNetworkFailure(null)]).toEqual([false, false]);
  });

  it("every series says how its round ran: the record's concurrency, serial for records without one", async () => {
    const summary = await summaryOf('rrul');
    const disjoint = recordSamples({ ...record('rrul', summary), concurrency: 'disjoint' }, null);
    expect(disjoint.length).toBeGreaterThan(10);
    expect(new Set(disjoint.map((s) => s.labels.concurrency))).toEqual(new Set(['disjoint']));
    const legacy = recordSamples(record('rrul', summary), null);
    expect(new Set(legacy.map((s) => s.labels.concurrency))).toEqual(new Set(['serial']));
    // Every gauge declares the label, or prom-client would refuse the sample.
    for (const { def } of disjoint) expect(def.labelNames).toContain('concurrency');
  });

  it('a first failure has no last success at all', () => {
    const samples = recordSamples(record('ping', null), null);
    expect(find(samples, 'netmon_last_success_timestamp_seconds')).toEqual([]);
  });

  it('refuses a record whose end time is not a time', () => {
    expect(() => recordSamples({ ...record('ping', null), endTime: 'yesterday' }, null)).toThrow(/endTime/);
  });
});

describe('assembling query results into pairs', () => {
  const at = 1_795_680_000;
  const sample = (metric: Record<string, string>, value: string): VectorSample => ({
    metric: { job: 'netmon', schedule: 'default', src: 'a', dst: 'b', ...metric },
    value: [at, value],
  });

  it('maps series to fields, bytes back to bits, and NaN to null', () => {
    const pairs = assemblePairs([
      sample({ __name__: 'netmon_connectivity', test: 'rrul' }, '1'),
      sample({ __name__: 'push_time_seconds' }, '1795679999.5'),
      sample({ __name__: 'netmon_latency_p99_seconds', test: 'rrul', probe: 'udp_be' }, '0.0025'),
      sample({ __name__: 'netmon_latency_max_seconds', test: 'rrul', probe: 'udp_be' }, 'NaN'),
      sample(
        { __name__: 'netmon_throughput_mean_bytes_per_second', test: 'rrul', direction: 'dst_to_src' },
        '1250000',
      ),
      sample({ __name__: 'netmon_connectivity', test: 'ping', dst: 'c' }, '0'),
      sample({ __name__: 'netmon_failure_info', test: 'ping', dst: 'c', reason: 'timeout' }, '1'),
    ]);
    expect(pairs.map((p) => `${p.src}>${p.dst}`)).toEqual(['a>b', 'a>c']);
    const [ab, ac] = pairs;
    expect(ab?.test).toBe('rrul');
    expect(ab?.connectivity).toBe(1);
    expect(ab?.pushTimeSeconds).toBe(1795679999.5);
    expect(ab?.latency.udp_be).toEqual({
      min: null,
      mean: null,
      median: null,
      p99: 0.0025,
      max: null,
      lossRatio: null,
    });
    expect(ab?.throughput).toEqual({ dst_to_src: { mean: 10_000_000, median: null, p99: null } });
    expect(ac).toMatchObject({ connectivity: 0, failureReason: 'timeout' });
    expect([ac?.latency, ac?.throughput]).toEqual([{}, {}]);
  });

  it('reads the concurrency label back; a pair in both modes at once keeps only the newer test', () => {
    const mode = (concurrency: string, end: number, connectivity: string, mean: string): VectorSample[] => [
      sample({ __name__: 'netmon_connectivity', test: 'tcp_upload', concurrency }, connectivity),
      sample({ __name__: 'netmon_test_timestamp_seconds', test: 'tcp_upload', concurrency }, String(end)),
      sample(
        {
          __name__: 'netmon_throughput_mean_bytes_per_second',
          test: 'tcp_upload',
          concurrency,
          direction: 'src_to_dst',
        },
        mean,
      ),
    ];
    const push = sample({ __name__: 'push_time_seconds' }, String(at));
    // Prometheus still answers with the serial series until its next scrape marks them stale.
    const newerDisjoint = assemblePairs([
      ...mode('serial', at - 600, '1', '1000'),
      push,
      ...mode('disjoint', at - 5, '0', '2000'),
    ]);
    expect(newerDisjoint).toHaveLength(1);
    expect(newerDisjoint[0]).toMatchObject({
      concurrency: 'disjoint',
      connectivity: 0,
      testTimestampSeconds: at - 5,
      pushTimeSeconds: at,
      throughput: { src_to_dst: { mean: 16_000 } },
    });
    const newerSerial = assemblePairs([
      ...mode('disjoint', at - 600, '0', '2000'),
      ...mode('serial', at - 5, '1', '1000'),
      push,
    ]);
    expect(newerSerial[0]).toMatchObject({
      concurrency: 'serial',
      connectivity: 1,
      testTimestampSeconds: at - 5,
    });
    // Series pushed before the label existed count as one more set: the newer still wins.
    const legacy = mode('serial', at - 600, '0', '1').map((s) => {
      const { concurrency: _mode, ...metric } = s.metric;
      return { ...s, metric };
    });
    expect(assemblePairs([...legacy, ...mode('serial', at - 5, '1', '1000')])[0]).toMatchObject({
      concurrency: 'serial',
      connectivity: 1,
    });
    expect(assemblePairs(legacy)[0]).toMatchObject({ concurrency: null, connectivity: 0 });
  });

  describe('a test that broke after a measured one', () => {
    const measured = (end: number): VectorSample[] => [
      sample({ __name__: 'netmon_connectivity', test: 'ping', concurrency: 'serial' }, '1'),
      sample({ __name__: 'netmon_test_timestamp_seconds', test: 'ping', concurrency: 'serial' }, String(end)),
      sample(
        { __name__: 'netmon_latency_median_seconds', test: 'ping', concurrency: 'serial', probe: 'icmp' },
        '0.001',
      ),
    ];
    const broke = (end: number, reason = 'oom-killed', test = 'tcp_upload'): VectorSample =>
      sample(
        { __name__: 'netmon_not_measured_timestamp_seconds', test, concurrency: 'disjoint', reason },
        String(end),
      );

    it('keeps the measured connectivity and figures, and says which test broke, why and when', () => {
      const [pair] = assemblePairs([...measured(at - 600), broke(at - 5)]);
      expect(pair).toMatchObject({
        test: 'ping',
        concurrency: 'serial',
        connectivity: 1,
        failureReason: null,
        testTimestampSeconds: at - 600,
        notMeasured: {
          reason: 'oom-killed',
          test: 'tcp_upload',
          concurrency: 'disjoint',
          testTimestampSeconds: at - 5,
        },
      });
      expect(pair?.latency.icmp?.median).toBe(0.001);
    });

    it('is over once a later test measured (Prometheus may still hold it until its next scrape)', () => {
      const [pair] = assemblePairs([...measured(at - 5), broke(at - 600)]);
      expect(pair).toMatchObject({ connectivity: 1, testTimestampSeconds: at - 5, notMeasured: null });
    });

    it('takes the newest of two broken tests, and stands alone on a pair never measured', () => {
      const [pair] = assemblePairs([
        broke(at - 600, 'tool-error'),
        broke(at - 5, 'deadline-exceeded', 'rrul'),
      ]);
      expect(pair).toMatchObject({
        test: null,
        connectivity: null,
        testTimestampSeconds: null,
        notMeasured: { reason: 'deadline-exceeded', test: 'rrul', testTimestampSeconds: at - 5 },
      });
    });
  });

  it('treats a missing label as the empty value (Prometheus drops empty labels)', () => {
    const pairs = assemblePairs([
      { metric: { __name__: 'netmon_connectivity', dst: 'x' }, value: [at, '1'] },
    ]);
    expect(pairs[0]).toMatchObject({ schedule: '', src: '', dst: 'x', test: null });
  });

  it('selects one schedule with a safely quoted matcher', () => {
    expect(pairsSelector()).toBe('{job="netmon",__name__=~"netmon_.+|push_time_seconds"}');
    expect(pairsSelector('a"b\\c')).toBe(
      '{job="netmon",__name__=~"netmon_.+|push_time_seconds",schedule="a\\"b\\\\c"}',
    );
  });
});

describe('credentials in gateway URLs', () => {
  const url = 'https://netmon:s3cr%40t@gateway.example:9091/prefix';

  it('redacts user and password', () => {
    expect(redactUrl(url)).toBe('https://***@gateway.example:9091/prefix');
    expect(redactUrl('not a url with secret')).toBe('[unparsable URL]');
  });

  it('keeps them out of MetricsError messages, even when echoed back', () => {
    const err = new MetricsError('push to', url, 401, 'bad credentials s3cr@t and s3cr%40t');
    expect(err.message).not.toMatch(/s3cr|netmon:/);
    expect(err.message).toContain('HTTP 401');
    expect(err.url).toBe('https://***@gateway.example:9091/prefix');
    expect(err.status).toBe(401);
  });

  it('moves them into a basic Authorization header for fetch, keeping the path prefix', () => {
    const { url: target, headers } = endpoint(url, 'api/v1/metrics');
    expect(target).toBe('https://gateway.example:9091/prefix/api/v1/metrics');
    expect(headers.authorization).toBe(`Basic ${Buffer.from('netmon:s3cr@t').toString('base64')}`);
    expect(endpoint('http://127.0.0.1:9091', '/metrics')).toEqual({
      url: 'http://127.0.0.1:9091/metrics',
      headers: {},
    });
  });

  it('never echoes an unparsable or non-http URL', () => {
    const messageOf = (base: string): string => {
      try {
        endpoint(base, 'metrics');
      } catch (err) {
        expect(err).toBeInstanceOf(MetricsError);
        return (err as Error).message;
      }
      throw new Error(`${base} was accepted`);
    };
    expect(messageOf('::secret::')).toMatch(/^parse \[unparsable URL\]: .*not a valid URL/);
    expect(messageOf('gateway:secret@nowhere')).toMatch(/unsupported scheme gateway:/);
    expect(messageOf('gateway:secret@nowhere')).not.toContain('secret');
  });
});
