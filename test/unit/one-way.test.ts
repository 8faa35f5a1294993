import { describe, expect, it } from 'vitest';
import { formatClockLine, parseClockLog } from '../../layers/core/clock.ts';
import type { ClockState } from '../../layers/domain/clock.ts';
import type { FlentSummary } from '../../layers/domain/figures.ts';
import {
  CLOSURE_FLOOR_SECONDS,
  clockClosure,
  type PairOffset,
  publishedOneWay,
  type TestClocks,
  worseClock,
} from '../../layers/domain/one-way.ts';
import { UDP_LATENCY_SERIES } from '../../layers/domain/test-types.ts';
import { readArchiveFile } from '../../layers/flent/archive.ts';
import { decodeReport, encodeReport } from '../../layers/flent/compact.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';
import { graphFromMetrics } from '../../layers/graph/from-metrics.ts';
import { toGraphML } from '../../layers/graph/graphml.ts';
import { parseGraphJson, toGraphJson } from '../../layers/graph/json.ts';
import { recordSamples } from '../../layers/metrics/push.ts';
import { assemblePairs } from '../../layers/metrics/query.ts';
import { testRecord } from '../helpers/records.ts';

/**
 * The published one-way figures: from udp_latency's summary (a real archive
 * of the rig, test/fixtures/flent/udp_latency.flent.gz) and both ends'
 * clocks, to the record, the metrics and back; and the offsets' closure.
 */
const summary = summarizeArchive(
  await readArchiveFile(new URL('../fixtures/flent/udp_latency.flent.gz', import.meta.url).pathname),
);
const fixtureSeries = summary.oneWay?.[UDP_LATENCY_SERIES];
if (fixtureSeries === undefined) throw new Error('the fixture has one-way figures');
const series = fixtureSeries;

const clock = (overrides: Partial<ClockState> = {}): ClockState => ({
  clockId: 'host-a',
  synchronised: true,
  errorBoundSeconds: 0.002,
  source: 'kernel',
  ...overrides,
});
const oneClock: TestClocks = { src: clock(), dst: clock() };

/** The fixture's summary with the legs' medians set (a clock offset makes one negative). */
function withMedians(up: number, down: number): FlentSummary {
  return {
    ...summary,
    oneWay: {
      [UDP_LATENCY_SERIES]: {
        ...series,
        up: { ...series.up, median: up },
        down: { ...series.down, median: down },
      },
    },
  } as FlentSummary;
}

describe('published one-way figures', () => {
  it("one clock at both ends: the legs' medians and losses per direction of flow, bound 0, trusted", () => {
    const published = publishedOneWay(summary, oneClock);
    expect(published).toEqual({
      probe: 'udp',
      packetsSent: series.packetsSent,
      delaySeconds: { src_to_dst: series.up.median, dst_to_src: series.down.median },
      lossRatio: { src_to_dst: series.up.lossRatio, dst_to_src: series.down.lossRatio },
      clockOffsetSeconds: ((series.up.median as number) - (series.down.median as number)) / 2,
      clockErrorBoundSeconds: 0,
      trusted: true,
      trustReason: 'both ends read one clock',
    });
  });

  it("two clocks: the bound is both ends' added; untrusted when it exceeds 10 % of min RTT / 2 or a clock is unsynchronised", () => {
    const minRtt = summary.latency[UDP_LATENCY_SERIES]?.min as number;
    const fine = clock({ clockId: 'b', errorBoundSeconds: (0.1 * minRtt) / 2 / 4 });
    const good = publishedOneWay(summary, {
      src: clock({ errorBoundSeconds: fine.errorBoundSeconds }),
      dst: fine,
    });
    expect(good).toMatchObject({ trusted: true });
    expect(good?.clockErrorBoundSeconds).toBeCloseTo((0.1 * minRtt) / 2 / 2, 15);
    const wide = publishedOneWay(summary, {
      src: clock(),
      dst: clock({ clockId: 'b', errorBoundSeconds: minRtt }),
    });
    expect(wide).toMatchObject({ trusted: false, clockErrorBoundSeconds: 0.002 + minRtt });
    expect(wide?.trustReason).toMatch(/exceeds 10 % of min RTT \/ 2/);
    // Untrusted, but published: a reader decides with the flag and the bound beside it.
    expect(wide?.delaySeconds.src_to_dst).toBe(series.up.median);
    const unsynced = publishedOneWay(summary, {
      src: clock(),
      dst: clock({ clockId: 'b', synchronised: false }),
    });
    expect(unsynced).toMatchObject({ trusted: false, trustReason: 'the clock of dst is not synchronised' });
    expect(publishedOneWay(summary, { src: clock(), dst: null })).toMatchObject({
      trusted: false,
      clockErrorBoundSeconds: null,
      trustReason: 'the clock of dst is unknown',
    });
  });

  it('a negative median is not published as a delay; the offset it implies is', () => {
    const published = publishedOneWay(withMedians(-0.0004, 0.0016), {
      src: clock(),
      dst: clock({ clockId: 'b', errorBoundSeconds: 0.01 }),
    });
    expect(published?.delaySeconds).toEqual({ src_to_dst: null, dst_to_src: 0.0016 });
    expect(published?.clockOffsetSeconds).toBeCloseTo(-0.001, 15);
    expect(published?.trusted).toBe(false);
  });

  it('tests without one-way series and failures publish none', () => {
    expect(publishedOneWay({ ...summary, oneWay: {} }, oneClock)).toBeNull();
    expect(publishedOneWay(null, oneClock)).toBeNull();
  });

  it('two readings of one clock count as the worse: unsynchronised if either was, the larger bound', () => {
    expect(worseClock(clock({ errorBoundSeconds: 0.001 }), clock({ errorBoundSeconds: 0.003 }))).toEqual(
      clock({ errorBoundSeconds: 0.003 }),
    );
    expect(worseClock(clock({ synchronised: false }), clock())?.synchronised).toBe(false);
    expect(worseClock(clock(), clock({ errorBoundSeconds: null }))?.errorBoundSeconds).toBeNull();
    expect(worseClock(null, clock())).toEqual(clock());
    expect(worseClock(null, null)).toBeNull();
  });
});

describe('one-way figures on their way out', () => {
  const record = testRecord({
    runId: 'run-1',
    summary: withMedians(-0.0004, 0.0016),
    clocks: oneClock,
    oneWay: publishedOneWay(withMedians(-0.0004, 0.0016), { src: clock(), dst: clock({ clockId: 'b' }) }),
  });

  it("as gauges and read back from Prometheus' answer: the same figures, no negative delay, the bound and the flag", () => {
    const samples = recordSamples(record, null);
    const names = samples.map((s) => `${s.def.name}${JSON.stringify(s.labels)}=${s.value}`);
    expect(names.filter((n) => n.startsWith('netmon_one_way_delay_seconds'))).toEqual([
      'netmon_one_way_delay_seconds{"test":"udp_latency","concurrency":"serial","probe":"udp","direction":"dst_to_src"}=0.0016',
    ]);
    expect(names).toContain('netmon_one_way_delay_trusted{"test":"udp_latency","concurrency":"serial"}=0');
    expect(names).toContain(
      'netmon_clock_error_bound_seconds{"test":"udp_latency","concurrency":"serial"}=0.004',
    );
    const pairs = assemblePairs(
      samples.map((s) => ({
        metric: { __name__: s.def.name, job: 'netmon', schedule: 'owd', src: 'a', dst: 'b', ...s.labels },
        value: [0, String(s.value)] as [number, string],
      })),
    );
    expect(pairs[0]?.oneWay).toEqual({
      probe: 'udp',
      delaySeconds: { src_to_dst: null, dst_to_src: 0.0016 },
      lossRatio: record.oneWay?.lossRatio,
      clockOffsetSeconds: record.oneWay?.clockOffsetSeconds,
      clockErrorBoundSeconds: 0.004,
      trusted: false,
    });
  });

  it("in the agent's report: src's clock round trips; an older agent's report has none", () => {
    const outcome = { ok: true as const, summary, archivePath: '/tmp/x.flent.gz', durationSeconds: 5 };
    expect(decodeReport(encodeReport(outcome, 'h', null, clock())).clock).toEqual(clock());
    const old = JSON.parse(encodeReport(outcome, 'h', null)) as Record<string, unknown>;
    delete old.clock;
    expect(decodeReport(JSON.stringify(old)).clock).toBeNull();
  });

  it("in the server pod's clock log: every reading, a cut-off line and other output skipped", () => {
    const log = `${formatClockLine(clock())}irtt says hello\n${formatClockLine(undefined)}{"netmonClock":{"clo`;
    expect(parseClockLog(log)).toEqual([clock(), null]);
  });
});

describe('closure of the implied clock offsets', () => {
  /**
   * A mesh with per-node clock offsets and per-node egress delays: up(A->B)
   * = egress(A) + base + clock(B) - clock(A), down = egress(B) + base +
   * clock(A) - clock(B); each ordered pair measured. `moved` is how far a
   * node's clock had moved when it tested with a partner; `skew` adds to one
   * path only.
   */
  function mesh(
    clocks: Record<string, number>,
    egress: Record<string, number>,
    {
      moved = () => 0,
      skew = () => 0,
    }: {
      moved?: (node: string, partner: string) => number;
      skew?: (src: string, dst: string) => number;
    } = {},
  ): PairOffset[] {
    const names = Object.keys(clocks);
    const base = 0.0002;
    const clockOf = (node: string, partner: string): number =>
      (clocks[node] as number) + moved(node, partner);
    return names.flatMap((src) =>
      names
        .filter((dst) => dst !== src)
        .map((dst) => {
          const offset = clockOf(dst, src) - clockOf(src, dst);
          const up = (egress[src] as number) + base + offset + skew(src, dst);
          const down = (egress[dst] as number) + base - offset;
          return { src, dst, clockOffsetSeconds: (up - down) / 2, minRttSeconds: up + down };
        }),
    );
  }
  const clocks = { a: 0, b: 0.003, c: -0.002, d: 0.01, e: 0.0005 };
  const egress = { a: 0, b: 0.005, c: 0.012, d: 0, e: 0.001 };

  it('offsets and per-node delays close around every triangle: no node flagged', () => {
    const closures = clockClosure(mesh(clocks, egress));
    expect(closures.map((c) => c.node)).toEqual(['a', 'b', 'c', 'd', 'e']);
    for (const closure of closures) {
      expect(closure.residualSeconds).toBeLessThan(1e-12);
      expect(closure).toMatchObject({ flagged: false, triangles: 6, failingTriangles: 0 });
    }
  });

  it('a node whose clock moved between its tests fails every triangle through it; the others only those with it', () => {
    // c's clock 1 ms further at each partner's test (a, b, d, e in turn).
    const partners = ['a', 'b', 'd', 'e'];
    const moved = (node: string, partner: string): number =>
      node === 'c' ? 0.001 * partners.indexOf(partner) : 0;
    const closures = clockClosure(mesh(clocks, egress, { moved }));
    const c = closures.find((x) => x.node === 'c');
    expect(c).toMatchObject({ flagged: true, triangles: 6, failingTriangles: 6 });
    expect(c?.residualSeconds).toBeCloseTo(0.003, 12);
    for (const other of closures.filter((x) => x.node !== 'c'))
      expect(other, other.node).toMatchObject({ flagged: true, triangles: 6, failingTriangles: 3 });
  });

  it('a path longer out of a node than back in cancels like an egress delay: the closure holds', () => {
    const closures = clockClosure(mesh(clocks, egress, { skew: (src) => (src === 'c' ? 0.004 : 0) }));
    expect(closures.every((c) => !c.flagged && c.residualSeconds < 1e-12)).toBe(true);
  });

  it('residuals under the floor are noise; pairs in no triangle are left out', () => {
    const noisy = mesh(clocks, egress, {
      skew: (src, dst) => (src === 'a' && dst === 'b' ? CLOSURE_FLOOR_SECONDS : 0),
    });
    expect(clockClosure(noisy).every((c) => !c.flagged)).toBe(true);
    expect(clockClosure(mesh({ a: 0, b: 1 }, { a: 0, b: 0 }))).toEqual([]);
  });
});

describe('one-way figures in the graph', () => {
  /** Three nodes' udp_latency records as Prometheus would give them back; c's clock is 2 ms ahead. */
  function pairsFor(clockOf: Record<string, number>, moved: (src: string, dst: string) => number = () => 0) {
    const names = Object.keys(clockOf);
    const samples = names.flatMap((src) =>
      names
        .filter((dst) => dst !== src)
        .flatMap((dst) => {
          const offset = (clockOf[dst] as number) - (clockOf[src] as number) + moved(src, dst);
          const summaryOf = withMedians(0.0005 + offset, 0.0005 - offset);
          const record = testRecord({
            src,
            dst,
            summary: summaryOf,
            oneWay: publishedOneWay(summaryOf, {
              src: clock({ clockId: src }),
              dst: clock({ clockId: dst }),
            }),
          });
          return recordSamples(record, null).map((s) => ({
            metric: { __name__: s.def.name, job: 'netmon', schedule: 'owd', src, dst, ...s.labels },
            value: [0, String(s.value)] as [number, string],
          }));
        }),
    );
    return assemblePairs(samples);
  }
  const options = { title: 't', schedule: 'owd', now: new Date('2026-12-02T00:01:00Z'), maxAgeSeconds: 3600 };

  it("each edge carries its direction's delay and loss beside the pair's bound; nothing negative; closure per node", () => {
    const model = graphFromMetrics(pairsFor({ a: 0, b: 0, c: 0.002 }), [], options);
    const ac = model.edges.find((e) => e.src === 'a' && e.dst === 'c');
    const ca = model.edges.find((e) => e.src === 'c' && e.dst === 'a');
    // a -> c reads 2.5 ms (c's clock ahead); c -> a would read -1.5 ms: not a delay, not published.
    expect(ac?.oneWay?.delaySeconds).toBeCloseTo(0.0025, 12);
    expect(ca?.oneWay?.delaySeconds).toBeNull();
    expect(ac?.oneWay).toMatchObject({ clockErrorBoundSeconds: 0.004, trusted: false });
    // a -> c is a's test's up leg and c's test's down leg: the newer of the two (here, as old).
    expect([series.up.lossRatio, series.down.lossRatio]).toContain(ac?.oneWay?.lossRatio);
    // A steady offset closes: no node flagged.
    for (const node of model.nodes)
      expect(node.clockClosure, node.name).toMatchObject({ flagged: false, triangles: 1 });
    const back = parseGraphJson(toGraphJson(model));
    expect(back.edges.find((e) => e.src === 'a' && e.dst === 'c')?.oneWay).toEqual(ac?.oneWay);
    expect(back.nodes.map((n) => n.clockClosure)).toEqual(model.nodes.map((n) => n.clockClosure));
    const graphml = toGraphML(model);
    expect(graphml).toContain('attr.name="one_way_delay_seconds"');
    expect(graphml).toContain('attr.name="clock_closure_flagged"');
  });

  it('a clock that moved between tests leaves a residual: every node of the triangle flagged, with it', () => {
    const model = graphFromMetrics(
      pairsFor({ a: 0, b: 0, c: 0.002 }, (src, dst) => (src === 'b' && dst === 'c' ? 0.001 : 0)),
      [],
      options,
    );
    for (const node of model.nodes) {
      expect(node.clockClosure?.flagged, node.name).toBe(true);
      // b -> c alone moved by 1 ms: its offset estimate (averaged with c -> b) by 0.5 ms.
      expect(node.clockClosure?.residualSeconds).toBeCloseTo(0.0005, 9);
    }
  });
});
