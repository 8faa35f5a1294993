import { ValidationError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { GRAPH_SET_FILES, type GraphSetFile, renderGraphSet } from '../graph/index.ts';
import type { GraphEdgeInput, GraphModel, GraphNode } from '../graph/model.ts';
import { buildGraphModel, unmeasuredEdge } from '../graph/model.ts';
import { type PairMetrics, queryLatestPairs } from '../metrics/query.ts';
import { compactTime, GRAPH_FORMATS, type GraphFormat, graphKey } from '../store/keys.ts';
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
  /** File -> S3 key of the latest set: dot, svg, graphml, json, matrix-latency, matrix-throughput, matrix-loss. */
  latest: Record<GraphSetFile, string>;
  /** File -> S3 key of this run's timestamped set. */
  timestamped: Record<GraphSetFile, string>;
  /** Timestamped sets (prefixes) deleted because more than `keep` existed. */
  pruned: string[];
}

/** Timestamped sets never change: caches may keep them; "latest" must be revalidated. */
export const GRAPH_CACHE_CONTROL = {
  timestamped: 'public, max-age=31536000, immutable',
  latest: 'no-cache',
} as const;

function isGraphFormat(file: GraphSetFile): file is GraphFormat {
  return Object.hasOwn(GRAPH_FORMATS, file);
}

/** graphs/<set>/<file name>: the four graph formats through keys.ts, the matrices beside them. */
export function graphSetKey(set: 'latest' | Date, file: GraphSetFile): string {
  if (isGraphFormat(file)) return graphKey(set, file);
  return `graphs/${set === 'latest' ? 'latest' : compactTime(set)}/${GRAPH_SET_FILES[file].name}`;
}

/**
 * Writes one rendering (every file) to graphs/<time>/, then to graphs/latest/
 * (so that latest/ only names files of a complete set), then keeps only the
 * newest `keep` timestamped sets.
 */
export async function storeGraphs(
  store: ObjectStore,
  rendered: Record<GraphSetFile, string>,
  now: Date,
  keep: number,
): Promise<StoredGraphs> {
  if (!Number.isInteger(keep) || keep < 1) {
    throw new ValidationError('keep', keep, 'a whole number of timestamped graph sets >= 1');
  }
  const files = Object.keys(GRAPH_SET_FILES) as GraphSetFile[];
  const keys = (set: 'latest' | Date) =>
    Object.fromEntries(files.map((file) => [file, graphSetKey(set, file)])) as Record<GraphSetFile, string>;
  const timestamped = keys(now);
  const latest = keys('latest');
  for (const [set, cacheControl] of [
    [timestamped, GRAPH_CACHE_CONTROL.timestamped],
    [latest, GRAPH_CACHE_CONTROL.latest],
  ] as const) {
    for (const file of files) {
      await store.putText(set[file], rendered[file], GRAPH_SET_FILES[file].contentType, cacheControl);
    }
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
  /** File -> URL of the latest set. */
  urls: Record<GraphSetFile, string>;
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
  const rendered = await renderGraphSet(model);
  const stored = await storeGraphs(deps.store, rendered, now, deps.keep);
  const urls = Object.fromEntries(
    Object.entries(stored.latest).map(([file, key]) => [file, deps.store.urlFor(key)]),
  ) as Record<GraphSetFile, string>;
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
