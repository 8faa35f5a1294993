import { describe, expect, it } from 'vitest';
import { edgeState, toDot } from '../../layers/graph/dot.ts';
import { edgesFromMetrics, graphFromMetrics } from '../../layers/graph/from-metrics.ts';
import { GRAPHML_KEYS, toGraphML } from '../../layers/graph/graphml.ts';
import { parseGraphJson, toGraphJson } from '../../layers/graph/json.ts';
import { renderMatrixSvg } from '../../layers/graph/matrix.ts';
import type { GraphEdge, GraphModel } from '../../layers/graph/model.ts';
import { EDGE_COLORS, latencyColor } from '../../layers/graph/palette.ts';
import type { NotMeasuredTest, PairMetrics } from '../../layers/metrics/query.ts';
import type { SweepPairMetrics } from '../../layers/metrics/sweep.ts';

/**
 * A test that broke (issue 14: tool-error, oom-killed, deadline-exceeded,
 * store-unavailable) measured nothing: the edge keeps its last measured
 * connectivity, figures and age, and says it was not measured, and why.
 */

const T0 = 1_795_680_000;
const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();
const options = { title: 't', schedule: null, now: new Date((T0 + 10) * 1000), maxAgeSeconds: 600 };

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
    // The push of the broken test: the group's push time moves, the measured test's end does not.
    pushTimeSeconds: T0,
    testTimestampSeconds: T0 - 300,
    lastSuccessTimestampSeconds: T0 - 300,
    durationSeconds: 10,
    latency: { icmp: { min: 0.0004, mean: 0.0005, median: 0.0005, p99: 0.0009, max: 0.001, lossRatio: 0 } },
    throughput: {},
    ...fields,
  };
}

const broke = (reason: string, at = T0 - 2, test = 'tcp_upload'): NotMeasuredTest => ({
  reason,
  test,
  concurrency: 'serial',
  testTimestampSeconds: at,
});

function swept(src: string, dst: string, connectivity: 0 | 1, at: number): SweepPairMetrics {
  return {
    src,
    dst,
    connectivity,
    sent: 10,
    received: connectivity === 1 ? 10 : 0,
    lossRatio: connectivity === 1 ? 0 : 1,
    rttMinSeconds: null,
    rttMedianSeconds: null,
    rttP99Seconds: null,
    underLoad: false,
    sweptAtSeconds: at,
    pushTimeSeconds: at,
  };
}

function edgeOf(model: GraphModel, src: string, dst: string): GraphEdge {
  const found = model.edges.find((e) => e.src === src && e.dst === dst);
  if (found === undefined) throw new Error(`no edge ${src} -> ${dst}`);
  return found;
}

describe('metrics of a pair whose newest test broke -> its edge', () => {
  it('keeps the last connectivity (1), figures and age of the measured test, marked not measured with the reason', () => {
    const ab = edgeOf(
      graphFromMetrics([pair('a', 'b', { notMeasured: broke('oom-killed') })], [], options),
      'a',
      'b',
    );
    expect(ab).toMatchObject({
      connectivity: 1,
      reason: null,
      connectivitySource: 'test',
      connectivityAt: iso(T0 - 300),
      lastTest: { connectivity: 1, reason: null, testedAt: iso(T0 - 300) },
      notMeasured: { reason: 'oom-killed', test: 'tcp_upload', testedAt: iso(T0 - 2) },
      // The age is the measurement's, not the broken test's push.
      measuredAt: iso(T0 - 300),
      ageSeconds: 310,
      stale: false,
      tests: ['ping'],
    });
    expect(ab.latency?.median).toBe(0.0005);
    expect(edgeState(ab)).toBe('ok');
  });

  it('keeps a measured failure red: connectivity 0 and its network reason stay, the broken test beside them', () => {
    const failed = pair('a', 'b', {
      connectivity: 0,
      failureReason: 'unreachable',
      latency: {},
      notMeasured: broke('deadline-exceeded'),
    });
    const ab = edgeOf(graphFromMetrics([failed], [], options), 'a', 'b');
    expect(ab).toMatchObject({
      connectivity: 0,
      reason: 'unreachable',
      notMeasured: { reason: 'deadline-exceeded' },
    });
    expect(edgeState(ab)).toBe('failed');
  });

  it('a pair never measured whose only test broke: no connectivity (grey), never measured, the reason known', () => {
    const never = pair('a', 'b', {
      test: null,
      concurrency: null,
      connectivity: null,
      testTimestampSeconds: null,
      lastSuccessTimestampSeconds: null,
      durationSeconds: null,
      latency: {},
      notMeasured: broke('store-unavailable'),
    });
    const ab = edgeOf(graphFromMetrics([never], [], options), 'a', 'b');
    expect(ab).toMatchObject({
      connectivity: null,
      reason: null,
      lastTest: null,
      notMeasured: { reason: 'store-unavailable', testedAt: iso(T0 - 2) },
      measuredAt: null,
      stale: true,
      tests: [],
    });
    expect(edgeState(ab)).toBe('unmeasured');
  });

  it('the sweep still decides when it is fresher than the last measured test (a broken test is no measurement)', () => {
    const ab = edgeOf(
      graphFromMetrics([pair('a', 'b', { notMeasured: broke('tool-error', T0 + 5) })], [], options, [
        swept('a', 'b', 0, T0),
      ]),
      'a',
      'b',
    );
    expect(ab).toMatchObject({
      connectivity: 0,
      connectivitySource: 'sweep',
      connectivityAt: iso(T0),
      notMeasured: { reason: 'tool-error', testedAt: iso(T0 + 5) },
      measuredAt: iso(T0),
    });
    // A sweep older than the measured test does not: the test's 1 stands.
    const older = edgeOf(
      graphFromMetrics([pair('a', 'b', { notMeasured: broke('tool-error') })], [], options, [
        swept('a', 'b', 0, T0 - 400),
      ]),
      'a',
      'b',
    );
    expect(older).toMatchObject({ connectivity: 1, connectivitySource: 'test' });
  });

  it('marks the reverse direction too when the measured test fed it (rrul, tcp_download)', () => {
    const rrul = pair('a', 'b', {
      test: 'rrul',
      throughput: {
        src_to_dst: { mean: 4e8, median: 4e8, p99: 4e8 },
        dst_to_src: { mean: 3e8, median: 3e8, p99: 3e8 },
      },
      notMeasured: broke('oom-killed', T0 - 2, 'rrul'),
    });
    const edges = edgesFromMetrics([rrul]);
    const ba = edges.find((e) => e.src === 'b' && e.dst === 'a');
    expect(ba).toMatchObject({ connectivity: 1, notMeasured: { reason: 'oom-killed', test: 'rrul' } });
    // A ping pair's broken test says nothing of b -> a.
    expect(edgesFromMetrics([pair('a', 'b', { notMeasured: broke('oom-killed') })])).toHaveLength(1);
  });

  it('a later measured test of another schedule on the same direction wins over an older broken one', () => {
    const brokeEarly = pair('a', 'b', {
      schedule: 'night',
      testTimestampSeconds: T0 - 900,
      notMeasured: broke('oom-killed', T0 - 600),
    });
    const measuredLater = pair('a', 'b', {
      connectivity: 0,
      failureReason: 'timeout',
      testTimestampSeconds: T0 - 60,
    });
    const ab = edgeOf(graphFromMetrics([brokeEarly, measuredLater], [], options), 'a', 'b');
    expect(ab).toMatchObject({ connectivity: 0, reason: 'timeout', notMeasured: null });
    // ... and a broken test newer than every measurement marks it.
    const brokeLate = { ...brokeEarly, notMeasured: broke('oom-killed', T0 - 5) };
    expect(edgeOf(graphFromMetrics([brokeLate, measuredLater], [], options), 'a', 'b')).toMatchObject({
      connectivity: 0,
      reason: 'timeout',
      notMeasured: { reason: 'oom-killed', testedAt: iso(T0 - 5) },
    });
  });
});

describe('the not-measured mark in every format', () => {
  const model = graphFromMetrics(
    [pair('a', 'b', { notMeasured: broke('oom-killed') }), pair('b', 'a', { testTimestampSeconds: T0 - 5 })],
    [],
    options,
  );

  it('JSON: written after lastTest, read back equal; older documents read it as null', () => {
    const text = toGraphJson(model);
    expect(parseGraphJson(text)).toEqual(model);
    const doc = JSON.parse(text);
    expect(Object.keys(doc.edges[0]).slice(-4)).toEqual(['lastTest', 'notMeasured', 'ageSeconds', 'stale']);
    expect(doc.edges[0].notMeasured).toEqual({
      reason: 'oom-killed',
      test: 'tcp_upload',
      testedAt: iso(T0 - 2),
    });
    expect(doc.edges[1].notMeasured).toBeNull();
    for (const edge of doc.edges) delete edge.notMeasured;
    expect(parseGraphJson(JSON.stringify(doc)).edges.map((e) => e.notMeasured)).toEqual([null, null]);
    doc.edges[0].notMeasured = { reason: 7, test: null, testedAt: null };
    expect(() => parseGraphJson(JSON.stringify(doc))).toThrow(/edges\[0\]\.notMeasured\.reason/);
  });

  it('GraphML: the reason, test and time of the broken test; nothing on an edge that measured', () => {
    const keys = new Map(GRAPHML_KEYS.map((k) => [k.name, k.type]));
    expect(['not_measured_reason', 'not_measured_test', 'not_measured_at'].map((n) => keys.get(n))).toEqual([
      'string',
      'string',
      'string',
    ]);
    const xml = toGraphML(model);
    expect(xml).toContain('<data key="e_not_measured_reason">oom-killed</data>');
    expect(xml).toContain(`<data key="e_not_measured_at">${iso(T0 - 2)}</data>`);
    expect(xml.match(/e_not_measured_reason">/g)).toHaveLength(1);
    expect(xml).toContain('<data key="e_connectivity">1</data>');
  });

  it('DOT: the colour of the last measurement, a hollow arrowhead, the reason in label and tooltip', () => {
    const dot = toDot(model, { engine: 'dot', edgeLabels: true });
    const line = dot.split('\n').find((l) => l.trimStart().startsWith('"a" -> "b"')) ?? '';
    expect(line).toContain(`color="${latencyColor(0.0005)}"`);
    expect(line).not.toContain(EDGE_COLORS.failed);
    expect(line).toContain('style="solid"');
    expect(line).toContain('arrowhead="empty"');
    expect(line).toContain('class="netmon-edge netmon-ok netmon-not-measured"');
    expect(line).toContain('label="0.500 ms\\nnot measured: oom-killed"');
    expect(line).toContain(`newest test: not measured (oom-killed, tcp_upload) at ${iso(T0 - 2)}`);
    const back = dot.split('\n').find((l) => l.trimStart().startsWith('"b" -> "a"')) ?? '';
    expect(back).not.toContain('arrowhead');
    expect(back).not.toContain('not measured');
    expect(dot).toContain('hollow arrowhead: newest test broke, not measured');
  });

  it('matrix: the cell keeps its figure, its tooltip says the newest test broke', () => {
    const svg = renderMatrixSvg(model, 'latency');
    expect(svg).toContain('NOT MEASURED: the newest test broke (oom-killed)');
    expect(svg.match(/NOT MEASURED/g)).toHaveLength(1);
  });
});
