import { ValidationError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { NodeSource } from '../domain/nodes.ts';
import { graphFromMetrics } from '../graph/from-metrics.ts';
import { renderGraphSet } from '../graph/index.ts';
import { queryLatestPairs } from '../metrics/query.ts';
import { querySweepPairs } from '../metrics/sweep.ts';
import {
  GRAPH_SET_FILES,
  GRAPHS_PREFIX,
  type GraphSetFile,
  graphKey,
  graphSetPrefix,
} from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';
import { presignKeys } from './graph-links.ts';

/**
 * render: the latest figures of every pair (from Prometheus: the tests'
 * and the sweep's, connectivity from the fresher) become the graph of the
 * cluster (layers/graph/from-metrics.ts), drawn in every format,
 * with the matrices and the zone view (graph-zones.*) beside it, and stored
 * as the latest and a timestamped set.
 */

export interface StoredGraphs {
  /** File -> S3 key of the latest set: dot, svg, graphml, json, matrix-*, zones-dot, zones-svg, zones-graphml, zones-json. */
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
    Object.fromEntries(files.map((file) => [file, graphKey(set, file)])) as Record<GraphSetFile, string>;
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
  const latestPrefix = graphSetPrefix('latest');
  const sets = (await store.listPrefixes(GRAPHS_PREFIX)).filter((p) => p !== latestPrefix).sort();
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
  /** NETMON_GRAPH_LINK_SECONDS: presign links to the latest set, valid this long (undefined: none). */
  linkSeconds?: number;
  now?: () => Date;
}

export interface RenderReport {
  nodes: number;
  edges: number;
  staleEdges: number;
  stored: StoredGraphs;
  /** File -> URL of the latest set. */
  urls: Record<GraphSetFile, string>;
  /**
   * With NETMON_GRAPH_LINK_SECONDS: file -> presigned URL of the latest set,
   * which opens in a browser without credentials until `expiresAt`.
   */
  links?: { expiresAt: string; urls: Record<GraphSetFile, string> };
}

export async function render(deps: RenderDeps): Promise<RenderReport> {
  const now = (deps.now ?? (() => new Date()))();
  // The sweep belongs to no schedule: its figures of a pair stand beside any schedule's.
  const [pairs, sweeps] = await Promise.all([
    queryLatestPairs(deps.prometheusUrl, {
      at: now,
      ...(deps.schedule === undefined ? {} : { schedule: deps.schedule }),
    }),
    querySweepPairs(deps.prometheusUrl, { at: now }),
  ]);
  const nodes = deps.nodes === undefined ? [] : await deps.nodes.list();
  const model = graphFromMetrics(
    pairs,
    nodes,
    {
      title: `k8s-netmon: ${deps.clusterName}`,
      schedule: deps.schedule ?? null,
      now,
      maxAgeSeconds: deps.maxAgeSeconds,
    },
    sweeps,
  );
  const rendered = await renderGraphSet(model);
  const stored = await storeGraphs(deps.store, rendered, now, deps.keep);
  const urls = Object.fromEntries(
    Object.entries(stored.latest).map(([file, key]) => [file, deps.store.urlFor(key)]),
  ) as Record<GraphSetFile, string>;
  const report: RenderReport = {
    nodes: model.nodes.length,
    edges: model.edges.length,
    staleEdges: model.edges.filter((e) => e.stale).length,
    stored,
    urls,
    ...(deps.linkSeconds === undefined
      ? {}
      : { links: await presignKeys(deps.store, stored.latest, deps.linkSeconds) }),
  };
  // The links stay in the report: a log line at info level does not repeat signed URLs.
  log.info({ nodes: report.nodes, edges: report.edges, stale: report.staleEdges, urls }, 'graphs rendered');
  return report;
}
