import { log } from '../core/log.ts';
import { renderAll } from '../graph/index.ts';
import type { GraphEdgeInput, GraphModel, GraphNode } from '../graph/model.ts';
import { buildGraphModel, unmeasuredEdge } from '../graph/model.ts';
import { type PairMetrics, queryLatestPairs } from '../metrics/query.ts';
import { GRAPH_FORMATS, type GraphFormat, graphKey } from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';
import type { ClusterNode, NodeSource } from './nodes.ts';

/**
 * render: the latest figures of every pair (from Prometheus) become the graph
 * of the cluster. Edges follow the flow of probes and data: a tcp_download
 * test of the pair (a, b) measures b -> a.
 */

export interface GraphOptions {
  title: string;
  schedule: string | null;
  now: Date;
  maxAgeSeconds: number;
}

const PREFERRED_PROBES = ['icmp', 'udp', 'udp_be'];

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
    const probe = PREFERRED_PROBES.find((name) => pair.latency[name]) ?? Object.keys(pair.latency)[0];
    const latency = probe === undefined ? undefined : pair.latency[probe];
    if (latency !== undefined) {
      const { lossRatio, ...figures } = latency;
      forward.latency = figures;
      forward.lossRatio = lossRatio;
    }
    if (pair.throughput.src_to_dst) forward.throughput = { ...pair.throughput.src_to_dst };
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

export function graphFromMetrics(
  pairs: readonly PairMetrics[],
  nodes: readonly ClusterNode[],
  options: GraphOptions,
): GraphModel {
  const edges = edgesFromMetrics(pairs);
  const byName = new Map<string, GraphNode>();
  for (const node of nodes)
    byName.set(node.name, { name: node.name, address: node.address, labels: node.labels });
  for (const e of edges) {
    for (const name of [e.src, e.dst])
      if (!byName.has(name)) byName.set(name, { name, address: null, labels: {} });
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

export interface StoredGraphs {
  /** Format -> S3 key of the latest set. */
  latest: Record<GraphFormat, string>;
  /** Format -> S3 key of this run's timestamped set. */
  timestamped: Record<GraphFormat, string>;
  /** Timestamped sets deleted because more than `keep` existed. */
  pruned: string[];
}

/**
 * Writes one rendering (every format) to graphs/latest/ and graphs/<time>/,
 * then keeps only the newest `keep` timestamped sets.
 */
export async function storeGraphs(
  store: ObjectStore,
  rendered: Record<GraphFormat, string>,
  now: Date,
  keep: number,
): Promise<StoredGraphs> {
  const latest = {} as Record<GraphFormat, string>;
  const timestamped = {} as Record<GraphFormat, string>;
  for (const format of Object.keys(GRAPH_FORMATS) as GraphFormat[]) {
    timestamped[format] = graphKey(now, format);
    latest[format] = graphKey('latest', format);
    // Timestamped sets never change: cache them; "latest" must be revalidated.
    await store.putText(
      timestamped[format],
      rendered[format],
      GRAPH_FORMATS[format],
      'public, max-age=31536000, immutable',
    );
    await store.putText(latest[format], rendered[format], GRAPH_FORMATS[format], 'no-cache');
  }
  const sets = (await store.listPrefixes('graphs/')).filter((p) => p !== 'graphs/latest/').sort();
  const pruned = sets.slice(0, Math.max(0, sets.length - keep));
  for (const prefix of pruned) await store.delete(await store.list(prefix));
  return { latest, timestamped, pruned };
}

export interface RenderDeps {
  store: ObjectStore;
  prometheusUrl: string;
  /** Node labels (zone, region) and addresses; pairs alone give bare names. */
  nodes?: NodeSource;
  clusterName: string;
  maxAgeSeconds: number;
  keep: number;
  schedule?: string;
  now?: () => Date;
}

export interface RenderReport {
  nodes: number;
  edges: number;
  staleEdges: number;
  stored: StoredGraphs;
  urls: Record<GraphFormat, string>;
}

export async function render(deps: RenderDeps): Promise<RenderReport> {
  const now = (deps.now ?? (() => new Date()))();
  const pairs = await queryLatestPairs(deps.prometheusUrl, {
    at: now,
    ...(deps.schedule === undefined ? {} : { schedule: deps.schedule }),
  });
  const nodes = deps.nodes === undefined ? [] : await deps.nodes.list();
  const model = graphFromMetrics(pairs, nodes, {
    title: `k8s-netmon: ${deps.clusterName}`,
    schedule: deps.schedule ?? null,
    now,
    maxAgeSeconds: deps.maxAgeSeconds,
  });
  const rendered = await renderAll(model);
  const stored = await storeGraphs(deps.store, rendered, now, deps.keep);
  const urls = Object.fromEntries(
    Object.entries(stored.latest).map(([format, key]) => [format, deps.store.urlFor(key)]),
  ) as Record<GraphFormat, string>;
  const report = {
    nodes: model.nodes.length,
    edges: model.edges.length,
    staleEdges: model.edges.filter((e) => e.stale).length,
    stored,
    urls,
  };
  log.info({ nodes: report.nodes, edges: report.edges, stale: report.staleEdges, urls }, 'graphs rendered');
  return report;
}
