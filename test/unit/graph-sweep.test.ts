import { describe, expect, it } from 'vitest';
import { edgeState, toDot } from '../../layers/graph/dot.ts';
import { edgesFromMetrics, graphFromMetrics, SWEEP_FAILURE_REASON } from '../../layers/graph/from-metrics.ts';
import { GRAPHML_KEYS, toGraphML } from '../../layers/graph/graphml.ts';
import { parseGraphJson, toGraphJson } from '../../layers/graph/json.ts';
import type { GraphEdge, GraphModel } from '../../layers/graph/model.ts';
import { EDGE_COLORS } from '../../layers/graph/palette.ts';
import { zoneGraph } from '../../layers/graph/zones.ts';
import type { PairMetrics } from '../../layers/metrics/query.ts';
import type { SweepPairMetrics } from '../../layers/metrics/sweep.ts';

/**
 * Connectivity from the fresher of the sweep and the test (issue 12): the
 * sweep probes every pair every minute, a test comes once a round.
 */

const T0 = 1_795_680_000;
const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();
const options = { title: 't', schedule: null, now: new Date((T0 + 10) * 1000), maxAgeSeconds: 600 };

function test(src: string, dst: string, fields: Partial<PairMetrics> = {}): PairMetrics {
  return {
    schedule: 'default',
    src,
    dst,
    test: 'tcp_upload',
    concurrency: 'serial',
    connectivity: 1,
    failureReason: null,
    notMeasured: null,
    pushTimeSeconds: T0 - 100,
    testTimestampSeconds: T0 - 100,
    lastSuccessTimestampSeconds: T0 - 100,
    durationSeconds: 10,
    latency: { icmp: { min: 0.0004, mean: 0.0005, median: 0.0005, p99: 0.0009, max: 0.001, lossRatio: 0 } },
    throughput: { src_to_dst: { mean: 9e8, median: 9.1e8, p99: 9.5e8 } },
    ...fields,
  };
}

function swept(src: string, dst: string, fields: Partial<SweepPairMetrics> = {}): SweepPairMetrics {
  return {
    src,
    dst,
    connectivity: 1,
    sent: 10,
    received: 10,
    lossRatio: 0,
    rttMinSeconds: 0.0002,
    rttMedianSeconds: 0.0003,
    rttP99Seconds: 0.0007,
    underLoad: false,
    sweptAtSeconds: T0,
    pushTimeSeconds: T0 + 0.2,
    ...fields,
  };
}

const cut = (src: string, dst: string, at = T0): SweepPairMetrics =>
  swept(src, dst, {
    connectivity: 0,
    received: 0,
    lossRatio: 1,
    rttMinSeconds: null,
    rttMedianSeconds: null,
    rttP99Seconds: null,
    sweptAtSeconds: at,
  });

function edgeOf(model: GraphModel, src: string, dst: string): GraphEdge {
  const found = model.edges.find((e) => e.src === src && e.dst === dst);
  if (found === undefined) throw new Error(`no edge ${src} -> ${dst}`);
  return found;
}

describe('connectivity from the fresher of sweep and test', () => {
  it('a sweep newer than the test decides: a cut shows as connectivity 0 from the sweep, the test kept beside it', () => {
    const model = graphFromMetrics([test('a', 'b')], [], options, [cut('a', 'b')]);
    const ab = edgeOf(model, 'a', 'b');
    expect(ab).toMatchObject({
      connectivity: 0,
      reason: SWEEP_FAILURE_REASON,
      connectivitySource: 'sweep',
      connectivityAt: iso(T0),
      lastTest: { connectivity: 1, reason: null, testedAt: iso(T0 - 100) },
      sweep: {
        connectivity: 0,
        sweptAt: iso(T0),
        sent: 10,
        received: 0,
        lossRatio: 1,
        rttMedianSeconds: null,
      },
      measuredAt: iso(T0),
      stale: false,
    });
    // The test's figures stay: the sweep decides connectivity, not throughput or the test's latency.
    expect(ab.throughput?.mean).toBe(9e8);
    expect(ab.latency?.median).toBe(0.0005);
    expect(edgeState(ab)).toBe('failed');
  });

  it('a test newer than the sweep decides: its failure stands against an older sweep that got replies', () => {
    const failed = test('a', 'b', {
      connectivity: 0,
      failureReason: 'server-missing',
      testTimestampSeconds: T0 + 5,
      pushTimeSeconds: T0 + 5,
      latency: {},
      throughput: {},
    });
    const ab = edgeOf(graphFromMetrics([failed], [], options, [swept('a', 'b')]), 'a', 'b');
    expect(ab).toMatchObject({
      connectivity: 0,
      reason: 'server-missing',
      connectivitySource: 'test',
      connectivityAt: iso(T0 + 5),
      lastTest: { connectivity: 0, reason: 'server-missing', testedAt: iso(T0 + 5) },
      sweep: { connectivity: 1, sweptAt: iso(T0) },
    });
    // The failed test left no latency: the sweep's RTTs fill in.
    expect(ab.latency).toEqual({ min: 0.0002, mean: null, median: 0.0003, p99: 0.0007, max: null });
  });

  it('a newer sweep with replies clears an older failed test: green again, the failure kept in lastTest', () => {
    const failed = test('a', 'b', { connectivity: 0, failureReason: 'timeout', throughput: {} });
    const ab = edgeOf(graphFromMetrics([failed], [], options, [swept('a', 'b')]), 'a', 'b');
    expect(ab).toMatchObject({ connectivity: 1, reason: null, connectivitySource: 'sweep' });
    expect(ab.lastTest).toEqual({ connectivity: 0, reason: 'timeout', testedAt: iso(T0 - 100) });
    expect(edgeState(ab)).toBe('ok');
  });

  it('equal times go to the test (it measured more than echo replies)', () => {
    const ab = edgeOf(
      graphFromMetrics([test('a', 'b', { testTimestampSeconds: T0 })], [], options, [cut('a', 'b', T0)]),
      'a',
      'b',
    );
    expect(ab).toMatchObject({ connectivity: 1, connectivitySource: 'test', connectivityAt: iso(T0) });
  });

  it('compares the test end time, not its push time', () => {
    // Pushed after the sweep, but the test ended before it: the sweep is the fresher measurement.
    const late = test('a', 'b', { testTimestampSeconds: T0 - 5, pushTimeSeconds: T0 + 5 });
    const ab = edgeOf(graphFromMetrics([late], [], options, [cut('a', 'b')]), 'a', 'b');
    expect(ab).toMatchObject({ connectivity: 0, connectivitySource: 'sweep' });
    expect(ab.measuredAt).toBe(iso(T0 + 5));
  });

  it('the reverse direction of a download, known from its data, is weighed like any test', () => {
    const download = test('a', 'b', {
      test: 'tcp_download',
      throughput: { dst_to_src: { mean: 5e8, median: 5e8, p99: 5e8 } },
    });
    const edges = edgesFromMetrics([download], [cut('b', 'a')]);
    const ba = edges.find((e) => e.src === 'b' && e.dst === 'a');
    expect(ba).toMatchObject({ connectivity: 0, connectivitySource: 'sweep', lastTest: { connectivity: 1 } });
    expect(ba?.throughput?.mean).toBe(5e8);
  });

  it('a pair only the sweep has is an edge with connectivity, RTT and loss, and no throughput', () => {
    const model = graphFromMetrics([test('a', 'b')], [], options, [
      swept('b', 'c', { lossRatio: 0.2, received: 8, underLoad: true }),
      cut('c', 'b'),
    ]);
    expect(model.nodes.map((n) => n.name)).toEqual(['a', 'b', 'c']);
    const bc = edgeOf(model, 'b', 'c');
    expect(bc).toMatchObject({
      connectivity: 1,
      reason: null,
      connectivitySource: 'sweep',
      connectivityAt: iso(T0),
      latency: { min: 0.0002, mean: null, median: 0.0003, p99: 0.0007, max: null },
      lossRatio: 0.2,
      throughput: null,
      tests: [],
      concurrency: null,
      lastTest: null,
      measuredAt: iso(T0),
      stale: false,
    });
    expect(bc.sweep?.underLoad).toBe(true);
    expect(edgeOf(model, 'c', 'b')).toMatchObject({
      connectivity: 0,
      reason: SWEEP_FAILURE_REASON,
      latency: null,
      lossRatio: 1,
      throughput: null,
    });
    // A test-only edge says where its connectivity came from too.
    expect(edgeOf(model, 'a', 'b')).toMatchObject({
      connectivitySource: 'test',
      connectivityAt: iso(T0 - 100),
      sweep: null,
    });
  });

  it('an old sweep is stale like an old test: the edge age counts from the newest of the two', () => {
    const old = graphFromMetrics([], [], options, [swept('a', 'b', { sweptAtSeconds: T0 - 3600 })]);
    expect(edgeOf(old, 'a', 'b')).toMatchObject({ connectivity: 1, stale: true, ageSeconds: 3610 });
    const fresh = graphFromMetrics(
      [test('a', 'b', { testTimestampSeconds: T0 - 3600, pushTimeSeconds: T0 - 3600 })],
      [],
      options,
      [swept('a', 'b')],
    );
    expect(edgeOf(fresh, 'a', 'b')).toMatchObject({ stale: false, ageSeconds: 10 });
  });

  it('draws the swept cut dashed red, its tooltip naming the sweep and the test it overruled', () => {
    const dot = toDot(graphFromMetrics([test('a', 'b'), test('b', 'a')], [], options, [cut('a', 'b')]));
    const line = dot.split('\n').find((l) => l.trimStart().startsWith('"a" -> "b"'));
    expect(line).toContain(`color="${EDGE_COLORS.failed}"`);
    expect(line).toContain('style="dashed"');
    expect(line).toContain(`connectivity from: sweep at ${iso(T0)}`);
    expect(line).toContain(`last test: reached at ${iso(T0 - 100)}`);
    expect(line).toContain('sweep: 0/10 echo replies, loss 100');
    const back = dot.split('\n').find((l) => l.trimStart().startsWith('"b" -> "a"'));
    expect(back).not.toContain(`color="${EDGE_COLORS.failed}"`);
  });

  it('the zone view counts the swept cut as failing', () => {
    const nodes = ['a', 'b', 'c'].map((name) => ({
      name,
      address: null,
      labels: { 'topology.kubernetes.io/zone': name === 'a' ? 'z1' : 'z2' },
    }));
    const model = graphFromMetrics([test('a', 'b'), test('a', 'c')], nodes, options, [cut('a', 'b')]);
    const zones = zoneGraph(model);
    expect(zones.edges.find((e) => e.src === 'z1' && e.dst === 'z2')).toMatchObject({
      measured: 2,
      failing: 1,
    });
  });
});

describe('the concurrency of the figures', () => {
  it('comes from the newest test of the edge, both directions of its data', () => {
    const older = test('a', 'b', {
      concurrency: 'serial',
      testTimestampSeconds: T0 - 500,
      pushTimeSeconds: T0 - 500,
    });
    const newer = test('a', 'b', {
      schedule: 'disjoint-night',
      test: 'rrul',
      concurrency: 'disjoint',
      throughput: {
        src_to_dst: { mean: 4e8, median: 4e8, p99: 4e8 },
        dst_to_src: { mean: 3e8, median: 3e8, p99: 3e8 },
      },
    });
    const model = graphFromMetrics([newer, older], [], options, [swept('a', 'b')]);
    expect(edgeOf(model, 'a', 'b').concurrency).toBe('disjoint');
    expect(edgeOf(model, 'b', 'a').concurrency).toBe('disjoint');
    expect(edgeOf(graphFromMetrics([older], [], options), 'a', 'b').concurrency).toBe('serial');
  });

  it('is null for figures pushed before the label existed', () => {
    const legacy = test('a', 'b', { concurrency: null });
    expect(edgeOf(graphFromMetrics([legacy], [], options), 'a', 'b').concurrency).toBeNull();
  });
});

describe('the new edge fields in the files', () => {
  const model = graphFromMetrics([test('a', 'b', { concurrency: 'disjoint' })], [], options, [
    cut('a', 'b'),
    swept('b', 'a', { underLoad: true }),
  ]);

  it('JSON: written in schema order and read back equal', () => {
    const text = toGraphJson(model);
    expect(parseGraphJson(text)).toEqual(model);
    const ab = JSON.parse(text).edges[0];
    expect(ab).toMatchObject({
      connectivitySource: 'sweep',
      connectivityAt: iso(T0),
      concurrency: 'disjoint',
      sweep: {
        connectivity: 0,
        sweptAt: iso(T0),
        sent: 10,
        received: 0,
        lossRatio: 1,
        rttMinSeconds: null,
        rttMedianSeconds: null,
        rttP99Seconds: null,
        underLoad: false,
      },
      lastTest: { connectivity: 1, reason: null, testedAt: iso(T0 - 100) },
    });
  });

  it('JSON: a document of an older render (without the fields) still reads, as null', () => {
    const doc = JSON.parse(toGraphJson(model));
    for (const edge of doc.edges) {
      for (const field of ['connectivitySource', 'connectivityAt', 'concurrency', 'sweep', 'lastTest'])
        delete edge[field];
    }
    const back = parseGraphJson(JSON.stringify(doc));
    expect(back.edges[0]).toMatchObject({
      connectivity: 0,
      connectivitySource: null,
      connectivityAt: null,
      concurrency: null,
      sweep: null,
      lastTest: null,
    });
  });

  it('JSON: a bad source is refused with its path', () => {
    const doc = JSON.parse(toGraphJson(model));
    doc.edges[0].connectivitySource = 'ping';
    expect(() => parseGraphJson(JSON.stringify(doc))).toThrow(/edges\[0\]\.connectivitySource/);
  });

  it('GraphML: typed keys for the source, the concurrency, the sweep and the last test', () => {
    const keys = new Map(GRAPHML_KEYS.map((k) => [k.name, k.type]));
    expect(
      Object.fromEntries(
        [
          'connectivity_source',
          'connectivity_at',
          'concurrency',
          'sweep_connectivity',
          'swept_at',
          'sweep_loss_ratio',
          'sweep_rtt_min_seconds',
          'sweep_rtt_median_seconds',
          'sweep_rtt_p99_seconds',
          'sweep_under_load',
          'last_test_connectivity',
          'last_test_reason',
          'last_test_at',
        ].map((name) => [name, keys.get(name)]),
      ),
    ).toEqual({
      connectivity_source: 'string',
      connectivity_at: 'string',
      concurrency: 'string',
      sweep_connectivity: 'int',
      swept_at: 'string',
      sweep_loss_ratio: 'double',
      sweep_rtt_min_seconds: 'double',
      sweep_rtt_median_seconds: 'double',
      sweep_rtt_p99_seconds: 'double',
      sweep_under_load: 'boolean',
      last_test_connectivity: 'int',
      last_test_reason: 'string',
      last_test_at: 'string',
    });
    const xml = toGraphML(model);
    expect(xml).toContain('<data key="e_connectivity_source">sweep</data>');
    expect(xml).toContain('<data key="e_concurrency">disjoint</data>');
    expect(xml).toContain('<data key="e_sweep_connectivity">0</data>');
    expect(xml).toContain('<data key="e_last_test_connectivity">1</data>');
    expect(xml).toContain('<data key="e_sweep_under_load">true</data>');
    // A null figure has no <data>: the cut's RTTs are unknown.
    expect(xml.match(/e_sweep_rtt_median_seconds">/g)).toHaveLength(1);
  });
});
