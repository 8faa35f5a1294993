import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { type RunResult, runProcess, waitFor } from '../../layers/core/process.ts';
import type { FlowDirection } from '../../layers/domain/figures.ts';
import { clockClosure, type NodeClosure } from '../../layers/domain/one-way.ts';
import type { TestRecord } from '../../layers/domain/record.ts';
import { UDP_LATENCY_SERIES } from '../../layers/domain/test-types.ts';
import { parseGraphJson } from '../../layers/graph/json.ts';
import type { GraphModel } from '../../layers/graph/model.ts';
import { type PairMetrics, queryLatestPairs } from '../../layers/metrics/query.ts';
import type { RenderReport } from '../../layers/pipeline/render.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { binomialInterval } from '../helpers/ground-truth.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe, startRender } from '../helpers/probes.ts';

/**
 * udp_latency through the whole pipeline (plan, probe, render as their
 * CronJobs start them; real s3rver, SQS, Pushgateway, Prometheus; the
 * analysis package) on a rig with injected per-node delay and loss: the
 * record, Prometheus, the graph and the Python frame carry the same one-way figures,
 * and those figures are the injected ones.
 */
const SCHEDULE = 'owd';
/** a undelayed (its legs show the path's own delay, well under the 0.3 ms tolerance), b delayed and lossy, c delayed. */
const NODES = [
  { name: 'a', zone: 'z1' },
  { name: 'b', zone: 'z1', delaySeconds: 0.004, lossRatio: 0.05 },
  { name: 'c', zone: 'z2', delaySeconds: 0.009 },
] as const;
const PAIRS = NODES.flatMap((s) => NODES.filter((d) => d !== s).map((d) => `${s.name}>${d.name}`)).sort();
const ANALYSIS_PYTHON = join(process.cwd(), 'analysis', '.venv', 'bin', 'python');

let fixture: StackFixture;
let cluster: SimCluster;
let store: ObjectStore;
let records: TestRecord[];
let fromPrometheus: PairMetrics[];
let graph: GraphModel;
let work: string;

const env = (): NodeJS.ProcessEnv => ({
  ...fixture.env,
  NETMON_SCHEDULES: JSON.stringify([
    { name: SCHEDULE, cron: '* * * * *', test: 'udp_latency', lengthSeconds: 2, delaySeconds: 0 },
  ]),
});
const ran = (what: string, result: RunResult): RunResult => {
  if (result.exitCode !== 0) throw new Error(`${what} exited ${result.exitCode}: ${result.stderr}`);
  return result;
};
const injected = (name: string): { delay: number; loss: number } => {
  const node = NODES.find((n) => n.name === name) as { delaySeconds?: number; lossRatio?: number };
  return { delay: node.delaySeconds ?? 0, loss: node.lossRatio ?? 0 };
};
/** Up is src's egress, down dst's. */
const legs: ReadonlyArray<[FlowDirection, 'src' | 'dst']> = [
  ['src_to_dst', 'src'],
  ['dst_to_src', 'dst'],
];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'netmon-owd-'));
  fixture = await startStackFixture({ visibilityTimeoutSeconds: 10 });
  store = storeFrom(fixture.env);
  cluster = await SimCluster.create({ nodes: NODES.map((n) => ({ ...n })) });
  await fixture.writeNodes(cluster.clusterNodes());
  ran('plan', await startPlan(env()).done);
  ran('probe', await startProbe(env()).done);
  const round = (await latestManifest(store, SCHEDULE))?.round ?? '';
  const keys = await store.list(`results/${SCHEDULE}/${round}/`);
  records = await Promise.all(
    keys.map(
      async (key) => JSON.parse(Buffer.from((await store.getBytes(key)) ?? []).toString()) as TestRecord,
    ),
  );
  await waitFor(
    'every pair of the round in Prometheus, one-way figures included',
    async () => {
      fromPrometheus = await queryLatestPairs(fixture.stack.prometheusUrl, { schedule: SCHEDULE });
      return fromPrometheus.length === PAIRS.length && fromPrometheus.every((p) => p.oneWay?.trusted != null);
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  const rendered = JSON.parse(ran('render', await startRender(env()).done).stdout) as RenderReport;
  graph = parseGraphJson(Buffer.from((await store.getBytes(rendered.stored.latest.json)) ?? []).toString());
}, 240_000);

afterAll(async () => {
  await cluster?.destroy();
  await fixture?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('udp_latency through the pipeline, against injected delay and loss', () => {
  it('records every pair with its one-way figures: one clock, bound 0, trusted; the injected delays and losses', () => {
    expect(records.map((r) => `${r.src}>${r.dst}`).sort()).toEqual(PAIRS);
    for (const record of records) {
      const label = `${record.src}>${record.dst}`;
      expect(record.connectivity, label).toBe(1);
      expect(record.clocks?.src?.clockId, label).toBe(record.clocks?.dst?.clockId);
      expect(record.oneWay, label).toMatchObject({ probe: 'udp', clockErrorBoundSeconds: 0, trusted: true });
      for (const [direction, end] of legs) {
        const truth = injected(end === 'src' ? record.src : record.dst);
        const delay = record.oneWay?.delaySeconds[direction] ?? Number.NaN;
        expect(Math.abs(delay - truth.delay), `${label} ${direction} delay`).toBeLessThan(0.0003);
        const sent = record.oneWay?.packetsSent ?? 0;
        const lost = Math.round((record.oneWay?.lossRatio[direction] ?? Number.NaN) * sent);
        // Where loss was injected: within the binomial interval. (The strict "none where none was
        // injected" is the demo's ground-truth test; here a starved host may lose a packet or two.)
        const [lo, hi] =
          truth.loss > 0 ? binomialInterval(sent, truth.loss, 0.999) : [0, Math.ceil(0.02 * sent)];
        expect(lost, `${label} ${direction} lost of ${sent}`).toBeGreaterThanOrEqual(lo);
        expect(lost, `${label} ${direction} lost of ${sent}`).toBeLessThanOrEqual(hi);
      }
    }
  });

  it("Prometheus has each record's one-way figures: delays, losses, offset, bound and the flag", () => {
    for (const record of records) {
      const pair = fromPrometheus.find((p) => p.src === record.src && p.dst === record.dst);
      const published = record.oneWay;
      expect(pair?.oneWay?.probe).toBe(published?.probe);
      expect(pair?.oneWay?.trusted).toBe(published?.trusted);
      for (const direction of ['src_to_dst', 'dst_to_src'] as const) {
        expect(pair?.oneWay?.delaySeconds[direction]).toBeCloseTo(
          published?.delaySeconds[direction] as number,
          12,
        );
        expect(pair?.oneWay?.lossRatio[direction]).toBeCloseTo(published?.lossRatio[direction] as number, 12);
      }
      expect(pair?.oneWay?.clockOffsetSeconds).toBeCloseTo(published?.clockOffsetSeconds as number, 12);
      expect(pair?.oneWay?.clockErrorBoundSeconds).toBe(published?.clockErrorBoundSeconds);
    }
  });

  it("the graph has each direction's one-way figures from its newest test, and every node's clocks close", () => {
    for (const edge of graph.edges) {
      // src -> dst is the up leg of the pair's own test and the down leg of the reverse pair's: the newer wins.
      const own = records.find((r) => r.src === edge.src && r.dst === edge.dst) as TestRecord;
      const reverse = records.find((r) => r.src === edge.dst && r.dst === edge.src) as TestRecord;
      const newer = Date.parse(own.endTime) >= Date.parse(reverse.endTime) ? own : reverse;
      const direction: FlowDirection = newer === own ? 'src_to_dst' : 'dst_to_src';
      expect(edge.oneWay, `${edge.src}>${edge.dst}`).toEqual({
        delaySeconds: newer.oneWay?.delaySeconds[direction],
        lossRatio: newer.oneWay?.lossRatio[direction],
        clockErrorBoundSeconds: 0,
        trusted: true,
      });
    }
    // The closure render drew is the one of the records' published offsets ...
    const expected = clockClosure(
      records.map((r) => ({
        src: r.src,
        dst: r.dst,
        clockOffsetSeconds: r.oneWay?.clockOffsetSeconds as number,
        minRttSeconds: r.summary?.latency[UDP_LATENCY_SERIES]?.min ?? null,
      })),
    );
    for (const node of graph.nodes) {
      const { node: name, ...closure } = expected.find((c) => c.node === node.name) as NodeClosure;
      expect(node.clockClosure?.triangles, name).toBe(1);
      expect(node.clockClosure?.flagged, name).toBe(closure.flagged);
      expect(node.clockClosure?.residualSeconds).toBeCloseTo(closure.residualSeconds, 12);
    }
    // ... and with one clock and per-node delays it closes: what is left is the medians' noise
    // (under 0.25 ms on a quiet host; 0.37 ms measured on one starved by other work).
    console.log(`clock closure residual ${graph.nodes[0]?.clockClosure?.residualSeconds} s`);
    expect(graph.nodes[0]?.clockClosure?.residualSeconds).toBeLessThan(0.001);
  });

  it("the analysis package's summary frame has each record's one-way figures", async () => {
    // A fresh machine installs the package first (pip: a minute or more); npm test's pytest reuses it.
    ran('analysis install', await runProcess(['bash', 'analysis/install.sh'], { timeoutMs: 540_000 }));
    const input = join(work, 'records.json');
    await writeFile(input, JSON.stringify(records));
    const script = [
      'import json, sys',
      'from netmon_analysis.frames import summary_frame',
      'frame = summary_frame(json.load(open(sys.argv[1])))',
      'cols = ["src", "dst", "one_way_probe", "one_way_delay_up_s", "one_way_delay_down_s", "loss_up_ratio",',
      '        "loss_down_ratio", "clock_offset_s", "clock_error_bound_s", "one_way_delay_trusted"]',
      'print(frame[cols].astype(object).where(frame[cols].notna(), None).to_json(orient="records", double_precision=15))',
    ].join('\n');
    const result = ran(
      'python',
      await runProcess([ANALYSIS_PYTHON, '-c', script, input], { timeoutMs: 60_000 }),
    );
    const rows = JSON.parse(result.stdout) as Array<Record<string, string | number | boolean | null>>;
    expect(rows).toHaveLength(records.length);
    for (const record of records) {
      const row = rows.find((r) => r.src === record.src && r.dst === record.dst);
      const published = record.oneWay;
      expect(row).toMatchObject({
        one_way_probe: published?.probe,
        one_way_delay_trusted: published?.trusted,
        clock_error_bound_s: published?.clockErrorBoundSeconds,
      });
      expect(row?.one_way_delay_up_s).toBeCloseTo(published?.delaySeconds.src_to_dst as number, 12);
      expect(row?.one_way_delay_down_s).toBeCloseTo(published?.delaySeconds.dst_to_src as number, 12);
      expect(row?.loss_up_ratio).toBeCloseTo(published?.lossRatio.src_to_dst as number, 12);
      expect(row?.loss_down_ratio).toBeCloseTo(published?.lossRatio.dst_to_src as number, 12);
      expect(row?.clock_offset_s).toBeCloseTo(published?.clockOffsetSeconds as number, 12);
    }
  }, 600_000);
});
