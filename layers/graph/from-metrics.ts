import { FLOW_DIRECTIONS } from '../domain/figures.ts';
import { headlineProbe } from '../domain/headline.ts';
import { clockClosure, type PairOffset } from '../domain/one-way.ts';
import type { PairMetrics } from '../metrics/query.ts';
import type { SweepPairMetrics } from '../metrics/sweep.ts';
import {
  buildGraphModel,
  type EdgeNotMeasured,
  type GraphEdgeInput,
  type GraphModel,
  type GraphNode,
  unmeasuredEdge,
} from './model.ts';

/**
 * The latest figures of every pair (as read from Prometheus) become the
 * graph of the cluster: the render step stores it, the graph API's
 * Prometheus source serves it. Edges follow the flow of probes and data: a
 * tcp_download test of the pair (a, b) measures b -> a.
 *
 * Connectivity comes from the fresher of two sources: the newest test of
 * the direction (its end time) and the sweep (its end time), which probes
 * every pair every minute. A test runs once a round, hours apart on a big
 * cluster, so without the sweep a cut path would stay green until its
 * pair's turn.
 *
 * A test that broke (an infrastructure reason: tool-error, oom-killed,
 * deadline-exceeded, store-unavailable) measured nothing: the edge keeps
 * the connectivity, figures and age of its last measurement and is marked
 * `notMeasured`, with the reason.
 */

export interface GraphFromMetricsOptions {
  title: string;
  schedule: string | null;
  now: Date;
  maxAgeSeconds: number;
}

function newestFirst(a: PairMetrics, b: PairMetrics): number {
  return (a.testTimestampSeconds ?? 0) - (b.testTimestampSeconds ?? 0);
}

function isoOf(seconds: number | null): string | null {
  return seconds === null ? null : new Date(seconds * 1000).toISOString();
}

/** When the pair last measured: its push, unless that push was of a test that broke (then its last measured test). */
function seenAt(pair: PairMetrics): string | null {
  if (pair.notMeasured !== null) return isoOf(pair.testTimestampSeconds);
  return isoOf(pair.pushTimeSeconds ?? pair.testTimestampSeconds);
}

function touch(edge: GraphEdgeInput, pair: PairMetrics): void {
  if (pair.test !== null && !edge.tests.includes(pair.test)) edge.tests.push(pair.test);
  if (pair.concurrency !== null) edge.concurrency = pair.concurrency;
  seen(edge, seenAt(pair));
}

function seen(edge: GraphEdgeInput, at: string | null): void {
  if (at !== null && (edge.measuredAt === null || at > edge.measuredAt)) edge.measuredAt = at;
}

/** The end of the pair's last measured test (its push time for figures pushed without one, unless a broken test pushed since). */
function measuredTestAt(pair: PairMetrics): string | null {
  return isoOf(pair.testTimestampSeconds ?? (pair.notMeasured === null ? pair.pushTimeSeconds : null));
}

/** The test's verdict on the edge: connectivity, reason, and when (the test's end, not its push). */
function testSays(edge: GraphEdgeInput, pair: PairMetrics, connectivity: 0 | 1, reason: string | null): void {
  const testedAt = measuredTestAt(pair);
  edge.connectivity = connectivity;
  edge.reason = reason;
  edge.connectivitySource = 'test';
  edge.connectivityAt = testedAt;
  edge.lastTest = { connectivity, reason, testedAt };
}

/**
 * Merges every pair's metrics into directed edges; newer tests override
 * older ones field by field. Then the sweep's figures of each direction:
 * its connectivity wins when it is newer than the test's (or the direction
 * has no test), and a direction only the sweep has becomes an edge with its
 * connectivity, RTT and loss.
 */
export function edgesFromMetrics(
  pairs: readonly PairMetrics[],
  sweeps: readonly SweepPairMetrics[] = [],
): GraphEdgeInput[] {
  const edges = new Map<string, GraphEdgeInput>();
  const edge = (src: string, dst: string): GraphEdgeInput => {
    const key = `${src}\u0000${dst}`;
    let found = edges.get(key);
    if (found === undefined) {
      found = unmeasuredEdge(src, dst);
      edges.set(key, found);
    }
    return found;
  };
  for (const pair of [...pairs].sort(newestFirst)) {
    const forward = edge(pair.src, pair.dst);
    touch(forward, pair);
    if (pair.connectivity !== null)
      testSays(forward, pair, pair.connectivity, pair.connectivity === 0 ? pair.failureReason : null);
    const probe = headlineProbe(Object.keys(pair.latency));
    const latency = probe === undefined ? undefined : pair.latency[probe];
    if (latency !== undefined) {
      const { lossRatio, ...figures } = latency;
      forward.latency = figures;
      forward.lossRatio = lossRatio;
    }
    if (pair.throughput.src_to_dst) forward.throughput = { ...pair.throughput.src_to_dst };
    setOneWay(pair, edge);
    if (pair.throughput.dst_to_src) {
      const backward = edge(pair.dst, pair.src);
      touch(backward, pair);
      backward.throughput = { ...pair.throughput.dst_to_src };
      // Data came back over dst -> src: that direction works, whatever its own tests said before.
      if (backward.connectivity === null) testSays(backward, pair, 1, null);
    }
  }
  // After every measured test: a broken test marks the edge only when it is newer than the edge's last test.
  for (const pair of pairs) markNotMeasured(pair, edge);
  for (const sweep of sweeps) applySweep(edge(sweep.src, sweep.dst), sweep);
  return [...edges.values()];
}

/** The pair's newest test broke: its edge, and dst -> src when the measured test fed it (tcp_download, rrul). */
function markNotMeasured(pair: PairMetrics, edge: (src: string, dst: string) => GraphEdgeInput): void {
  const broke = pair.notMeasured;
  if (broke === null) return;
  const mark = {
    reason: broke.reason,
    test: broke.test,
    testedAt: isoOf(broke.testTimestampSeconds ?? pair.pushTimeSeconds),
  };
  notMeasured(edge(pair.src, pair.dst), mark);
  if (pair.throughput.dst_to_src) notMeasured(edge(pair.dst, pair.src), mark);
}

/** Marks the edge's newest test as not measured, unless a later test (of another schedule) measured it. */
function notMeasured(edge: GraphEdgeInput, mark: EdgeNotMeasured): void {
  const at = mark.testedAt;
  const measuredAt = edge.lastTest?.testedAt ?? null;
  if (at !== null && measuredAt !== null && at <= measuredAt) return;
  const known = edge.notMeasured ?? null;
  if (known !== null && (at === null || (known.testedAt !== null && known.testedAt >= at))) return;
  edge.notMeasured = mark;
}

/** The sweep's reason for connectivity 0: not one echo request of the sweep got an answer. */
export const SWEEP_FAILURE_REASON = 'unreachable';

function applySweep(edge: GraphEdgeInput, sweep: SweepPairMetrics): void {
  const sweptAt = isoOf(sweep.sweptAtSeconds ?? sweep.pushTimeSeconds);
  edge.sweep = {
    connectivity: sweep.connectivity,
    sweptAt,
    sent: sweep.sent,
    received: sweep.received,
    lossRatio: sweep.lossRatio,
    rttMinSeconds: sweep.rttMinSeconds,
    rttMedianSeconds: sweep.rttMedianSeconds,
    rttP99Seconds: sweep.rttP99Seconds,
    underLoad: sweep.underLoad,
  };
  seen(edge, sweptAt);
  // A direction no test gave latency figures to shows the sweep's; a test's (many more probes) stays.
  if (edge.latency === null && edge.lossRatio === null) {
    const { rttMinSeconds: min, rttMedianSeconds: median, rttP99Seconds: p99 } = sweep;
    edge.latency =
      min === null && median === null && p99 === null ? null : { min, mean: null, median, p99, max: null };
    edge.lossRatio = sweep.lossRatio;
  }
  if (sweep.connectivity === null) return;
  const testAt = edge.connectivityAt ?? null;
  // Equal times go to the test: it measured more than echo replies.
  const fresher = edge.connectivity === null || testAt === null || (sweptAt !== null && sweptAt > testAt);
  if (!fresher) return;
  edge.connectivity = sweep.connectivity;
  edge.reason = sweep.connectivity === 0 ? SWEEP_FAILURE_REASON : null;
  edge.connectivitySource = 'sweep';
  edge.connectivityAt = sweptAt;
}

/** udp_latency's figures: up on the edge src -> dst, down on dst -> src, both with the pair's bound. */
function setOneWay(pair: PairMetrics, edge: (src: string, dst: string) => GraphEdgeInput): void {
  const oneWay = pair.oneWay;
  if (oneWay === undefined) return;
  for (const direction of FLOW_DIRECTIONS) {
    const target = direction === 'src_to_dst' ? edge(pair.src, pair.dst) : edge(pair.dst, pair.src);
    target.oneWay = {
      delaySeconds: oneWay.delaySeconds[direction],
      lossRatio: oneWay.lossRatio[direction],
      clockErrorBoundSeconds: oneWay.clockErrorBoundSeconds,
      trusted: oneWay.trusted,
    };
  }
}

/** The implied clock offsets of the pairs that have them, for the closure check. */
function offsetsOf(pairs: readonly PairMetrics[]): PairOffset[] {
  return pairs.flatMap((pair) => {
    const offset = pair.oneWay?.clockOffsetSeconds;
    if (offset === null || offset === undefined) return [];
    const minRtt = pair.latency[pair.oneWay?.probe ?? '']?.min ?? null;
    return [{ src: pair.src, dst: pair.dst, clockOffsetSeconds: offset, minRttSeconds: minRtt }];
  });
}

/**
 * The model of `pairs` and the last sweep's `sweeps`; `nodes` adds
 * addresses and labels (zone, region) and nodes no pair names yet. A node
 * only the metrics name gets a bare name.
 */
export function graphFromMetrics(
  pairs: readonly PairMetrics[],
  nodes: readonly GraphNode[],
  options: GraphFromMetricsOptions,
  sweeps: readonly SweepPairMetrics[] = [],
): GraphModel {
  const edges = edgesFromMetrics(pairs, sweeps);
  const byName = new Map<string, GraphNode>();
  for (const node of nodes)
    byName.set(node.name, { name: node.name, address: node.address, labels: node.labels });
  for (const e of edges) {
    for (const name of [e.src, e.dst])
      if (!byName.has(name)) byName.set(name, { name, address: null, labels: {} });
  }
  // A node whose implied clock offsets do not close around its triangles is flagged, with the residual.
  for (const { node, ...closure } of clockClosure(offsetsOf(pairs))) {
    const known = byName.get(node);
    if (known !== undefined) byName.set(node, { ...known, clockClosure: closure });
  }
  return buildGraphModel({
    title: options.title,
    schedule: options.schedule,
    generatedAt: options.now,
    maxAgeSeconds: options.maxAgeSeconds,
    nodes: [...byName.values()],
    edges,
  });
}
