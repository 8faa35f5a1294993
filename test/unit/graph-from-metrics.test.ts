import { describe, expect, it } from 'vitest';
import { edgesFromMetrics, graphFromMetrics } from '../../layers/graph/from-metrics.ts';
import { headlineLatency, headlineThroughput } from '../../layers/graph/headline.ts';
import type { PairMetrics, ProbeFigures } from '../../layers/metrics/query.ts';

/** The graph of the pairs' latest metrics, as render and the graph API's Prometheus source build it. */

const T0 = 1_795_680_000;

function probe(median: number): ProbeFigures {
  return { min: median * 0.8, mean: median * 1.1, median, p99: median * 2, max: median * 3, lossRatio: 0 };
}

function pair(src: string, dst: string, fields: Partial<PairMetrics> = {}): PairMetrics {
  return {
    schedule: 'default',
    src,
    dst,
    test: 'ping',
    concurrency: 'serial',
    connectivity: 1,
    failureReason: null,
    notMeasured: null,
    pushTimeSeconds: T0,
    testTimestampSeconds: T0,
    lastSuccessTimestampSeconds: T0,
    durationSeconds: 10,
    latency: {},
    throughput: {},
    ...fields,
  };
}

function edge(pairs: PairMetrics[], src: string, dst: string) {
  return edgesFromMetrics(pairs).find((e) => e.src === src && e.dst === dst);
}

describe('graph from metrics', () => {
  it('takes the latency of the headline probe: icmp, then udp, then udp_be, else the alphabetically first', () => {
    const cases: Array<[Record<string, ProbeFigures>, number]> = [
      [{ udp_be: probe(0.003), icmp: probe(0.001) }, 0.001],
      [{ udp_be: probe(0.003), udp: probe(0.002) }, 0.002],
      [{ zeta: probe(0.005), udp_be: probe(0.003) }, 0.003],
      [{ zeta: probe(0.005), alpha: probe(0.004) }, 0.004],
    ];
    for (const [latency, median] of cases) {
      const found = edge([pair('a', 'b', { latency })], 'a', 'b');
      expect(found?.latency?.median, Object.keys(latency).join(',')).toBe(median);
      expect(found && headlineLatency(found)).toBe(median);
    }
  });

  it('puts each direction of data flow on its own edge; the headline throughput is the mean', () => {
    const up = { mean: 9e8, median: 9.4e8, p99: 9.8e8 };
    const down = { mean: 2e6, median: 2.1e6, p99: 2.2e6 };
    const pairs = [pair('a', 'b', { test: 'rrul', throughput: { src_to_dst: up, dst_to_src: down } })];
    const ab = edge(pairs, 'a', 'b');
    const ba = edge(pairs, 'b', 'a');
    expect(ab?.throughput).toEqual(up);
    expect(ba?.throughput).toEqual(down);
    expect(ab && headlineThroughput(ab)).toBe(up.mean);
    expect(ba && headlineThroughput(ba)).toBe(down.mean);
    // Data came back over b -> a: that direction works.
    expect(ba?.connectivity).toBe(1);
    expect(ba?.tests).toEqual(['rrul']);
  });

  it('lets the newer test of a pair override the older one, field by field', () => {
    const older = pair('a', 'b', {
      test: 'tcp_upload',
      testTimestampSeconds: T0 - 60,
      pushTimeSeconds: T0 - 60,
      throughput: { src_to_dst: { mean: 1e8, median: 1e8, p99: 1e8 } },
    });
    const newer = pair('a', 'b', { connectivity: 0, failureReason: 'timeout', latency: {} });
    const ab = edge([newer, older], 'a', 'b');
    expect(ab).toMatchObject({ connectivity: 0, reason: 'timeout', tests: ['tcp_upload', 'ping'] });
    expect(ab?.throughput?.mean).toBe(1e8);
    expect(ab?.measuredAt).toBe(new Date(T0 * 1000).toISOString());
  });

  it('adds addresses and labels of known nodes, and bare names for nodes only the metrics name', () => {
    const model = graphFromMetrics(
      [pair('a', 'b', { latency: { icmp: probe(0.001) } })],
      [{ name: 'a', address: '10.0.0.1', labels: { zone: 'z1' } }],
      { title: 't', schedule: null, now: new Date((T0 + 30) * 1000), maxAgeSeconds: 600 },
    );
    expect(model.nodes).toEqual([
      { name: 'a', address: '10.0.0.1', labels: { zone: 'z1' } },
      { name: 'b', address: null, labels: {} },
    ]);
    expect(model.edges.map((e) => [e.src, e.dst, e.ageSeconds, e.stale])).toEqual([['a', 'b', 30, false]]);
  });
});
