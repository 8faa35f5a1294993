import { FLOW_DIRECTIONS } from '../domain/figures.ts';
import { headlineProbe } from '../domain/headline.ts';
import { clockClosure, type PairOffset } from '../domain/one-way.ts';
import type { PairMetrics } from '../metrics/query.ts';
import {
  buildGraphModel,
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

function seenAt(pair: PairMetrics): string | null {
  const seconds = pair.pushTimeSeconds ?? pair.testTimestampSeconds;
  return seconds === null ? null : new Date(seconds * 1000).toISOString();
}

function touch(edge: GraphEdgeInput, pair: PairMetrics): void {
  if (pair.test !== null && !edge.tests.includes(pair.test)) edge.tests.push(pair.test);
  const at = seenAt(pair);
  if (at !== null && (edge.measuredAt === null || at > edge.measuredAt)) edge.measuredAt = at;
}

/** Merges every pair's metrics into directed edges; newer tests override older ones field by field. */
export function edgesFromMetrics(pairs: readonly PairMetrics[]): GraphEdgeInput[] {
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
    if (pair.connectivity !== null) {
      forward.connectivity = pair.connectivity;
      forward.reason = pair.connectivity === 0 ? pair.failureReason : null;
    }
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
      if (backward.connectivity === null) backward.connectivity = 1;
    }
  }
  return [...edges.values()];
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
 * The model of `pairs`; `nodes` adds addresses and labels (zone, region) and
 * nodes no pair names yet. A node only the metrics name gets a bare name.
 */
export function graphFromMetrics(
  pairs: readonly PairMetrics[],
  nodes: readonly GraphNode[],
  options: GraphFromMetricsOptions,
): GraphModel {
  const edges = edgesFromMetrics(pairs);
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
