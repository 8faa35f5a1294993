import { formatRatio, formatSeconds } from '../core/format.ts';
import { headlineLatency } from './headline.ts';
import type { GraphEdge, GraphModel } from './model.ts';

/**
 * Which edges the node-link graph draws. Small meshes: all of them. Big
 * ones: only the pairs that need attention (a direction failed, is stale or
 * unmeasured, slow or lossy), both directions of such a pair so that
 * asymmetry shows, at most `maxEdges`, worst first. A healthy 100-node mesh
 * is then a picture of its zones instead of 9900 overlapping lines; every
 * pair stays in the matrix views, the GraphML and the JSON.
 */

export interface EdgeFocus {
  /** Draw every edge while the model has at most this many. */
  allEdgesUpTo: number;
  /** Above that, a direction with a headline latency at or above this needs attention (seconds). */
  latencySeconds: number;
  /** ... or with a loss ratio at or above this. */
  lossRatio: number;
  /** Never draw more edges than this (both directions of a pair count). */
  maxEdges: number;
}

/**
 * Up to this many nodes every pair is drawn and labelled with both
 * directions' figures; above, the zone view (zones.ts) gives the overview
 * and the node graph shows the pairs that need attention.
 */
export const SMALL_GRAPH_NODES = 10;

export const DEFAULT_EDGE_FOCUS: EdgeFocus = {
  // A full mesh of SMALL_GRAPH_NODES nodes.
  allEdgesUpTo: SMALL_GRAPH_NODES * (SMALL_GRAPH_NODES - 1),
  latencySeconds: 0.005,
  lossRatio: 0.01,
  maxEdges: 1000,
};

export type Attention = 'failed' | 'stale' | 'unmeasured' | 'slow' | 'lossy';

/** Worst first: the order in which pairs are kept when there are too many. */
const ATTENTION_RANK: Record<Attention, number> = { failed: 5, unmeasured: 4, stale: 3, slow: 2, lossy: 1 };

/** Within one kind of attention, how bad: the slowest, lossiest, oldest first. */
function severity(edge: GraphEdge, attention: Attention): number {
  if (attention === 'slow') return headlineLatency(edge) ?? 0;
  if (attention === 'lossy') return edge.lossRatio ?? 0;
  if (attention === 'stale') return edge.ageSeconds ?? 0;
  return 0;
}

/** Why an edge needs attention, or null when it is fresh, reached, fast and clean. */
export function attentionOf(edge: GraphEdge, focus: EdgeFocus): Attention | null {
  if (edge.connectivity === null) return 'unmeasured';
  if (edge.stale) return 'stale';
  if (edge.connectivity === 0) return 'failed';
  if ((headlineLatency(edge) ?? 0) >= focus.latencySeconds) return 'slow';
  if ((edge.lossRatio ?? 0) >= focus.lossRatio) return 'lossy';
  return null;
}

export interface EdgeSelection {
  edges: GraphEdge[];
  /** Edges of the model not drawn. */
  omitted: number;
  /** One line for the graph's title when edges were left out; null when all are drawn. */
  note: string | null;
}

function pairKey(edge: GraphEdge): string {
  return edge.src < edge.dst ? `${edge.src}\u0000${edge.dst}` : `${edge.dst}\u0000${edge.src}`;
}

export function selectEdges(model: GraphModel, focus: EdgeFocus = DEFAULT_EDGE_FOCUS): EdgeSelection {
  const total = model.edges.length;
  if (total <= focus.allEdgesUpTo) return { edges: model.edges, omitted: 0, note: null };
  const pairs = new Map<string, { edges: GraphEdge[]; rank: number; severity: number }>();
  for (const edge of model.edges) {
    const key = pairKey(edge);
    const pair = pairs.get(key) ?? { edges: [], rank: 0, severity: 0 };
    pair.edges.push(edge);
    const attention = attentionOf(edge, focus);
    if (attention !== null) {
      const rank = ATTENTION_RANK[attention];
      const bad = severity(edge, attention);
      if (rank > pair.rank || (rank === pair.rank && bad > pair.severity)) {
        pair.rank = rank;
        pair.severity = bad;
      }
    }
    pairs.set(key, pair);
  }
  const wanted = [...pairs.values()].filter((p) => p.rank > 0);
  // Stable sort: ties keep the model's (src, dst) order, so the choice is the same every run.
  wanted.sort((a, b) => b.rank - a.rank || b.severity - a.severity);
  const keep = new Set<GraphEdge>();
  for (const pair of wanted) {
    if (keep.size + pair.edges.length > focus.maxEdges) break;
    for (const edge of pair.edges) keep.add(edge);
  }
  const edges = model.edges.filter((edge) => keep.has(edge));
  const rule = `pairs with a failed, stale, unmeasured, slow (>= ${formatSeconds(focus.latencySeconds)}) or lossy (>= ${formatRatio(focus.lossRatio)}) direction`;
  const capped = wanted.reduce((sum, p) => sum + p.edges.length, 0) > edges.length;
  const note =
    edges.length === 0
      ? `0 of ${total} edges drawn: every pair reached, fresh, < ${formatSeconds(focus.latencySeconds)}, loss < ${formatRatio(focus.lossRatio)}`
      : `${edges.length} of ${total} edges drawn: ${rule}${capped ? `, worst first, at most ${focus.maxEdges}` : ''}`;
  return {
    edges,
    omitted: total - edges.length,
    note: `${note}. Every pair: matrix views, graph.json, graph.graphml`,
  };
}

/** The big node graph draws at most this many edges: more cannot each be followed at 1200 px. */
export const PICTURE_MAX_EDGES = 80;

/** A node needing attention towards at least this share of its pairs is marked itself. */
const NODE_SHARE = 0.5;

export interface PictureSelection {
  edges: GraphEdge[];
  /** Nodes marked as degraded themselves -> how (e.g. "slow: 198 of 198 directions"); their edges are not drawn. */
  nodes: Map<string, string>;
  /** What is drawn and what is not, for the legend. */
  note: string;
}

/**
 * What the node graph of a big cluster draws (the zone view gives the
 * overview): the failed, slow and lossy directions, one arrow each, worst
 * first, at most PICTURE_MAX_EDGES; a node that is bad towards most of its
 * peers is marked instead of drawing all its arrows. Stale and unmeasured
 * pairs are counted, not drawn (they say nothing about the network now).
 */
export function pictureSelection(model: GraphModel, focus: EdgeFocus = DEFAULT_EDGE_FOCUS): PictureSelection {
  const bad = new Map<GraphEdge, Attention>();
  let unknown = 0;
  for (const edge of model.edges) {
    const attention = attentionOf(edge, focus);
    if (attention === 'stale' || attention === 'unmeasured') unknown++;
    else if (attention !== null) bad.set(edge, attention);
  }
  const degree = new Map<string, { all: number; bad: number; kinds: Set<Attention> }>();
  for (const edge of model.edges) {
    for (const end of [edge.src, edge.dst]) {
      const d = degree.get(end) ?? { all: 0, bad: 0, kinds: new Set<Attention>() };
      d.all++;
      const attention = bad.get(edge);
      if (attention !== undefined) {
        d.bad++;
        d.kinds.add(attention);
      }
      degree.set(end, d);
    }
  }
  const nodes = new Map<string, string>();
  for (const [name, d] of degree) {
    if (d.all > 2 && d.bad >= d.all * NODE_SHARE)
      nodes.set(name, `${[...d.kinds].sort().join(', ')}: ${d.bad} of ${d.all} directions`);
  }
  const candidates = [...bad]
    .filter(([edge]) => !nodes.has(edge.src) && !nodes.has(edge.dst))
    .map(([edge, attention]) => ({ edge, rank: ATTENTION_RANK[attention], bad: severity(edge, attention) }));
  const kept = new Set(
    [...candidates]
      .sort((a, b) => b.rank - a.rank || b.bad - a.bad)
      .slice(0, PICTURE_MAX_EDGES)
      .map((c) => c.edge),
  );
  const edges = model.edges.filter((edge) => kept.has(edge));
  const parts = [
    `${edges.length} of ${model.edges.length} edges drawn: failed, slow (>= ${formatSeconds(focus.latencySeconds)}) or lossy (>= ${formatRatio(focus.lossRatio)}) directions${candidates.length > edges.length ? `, the worst ${PICTURE_MAX_EDGES} of ${candidates.length}` : ''}`,
    ...(nodes.size === 0
      ? []
      : [`${nodes.size} node(s) bad towards most peers shown filled, their arrows left out`]),
    ...(unknown === 0 ? [] : [`${unknown} stale or unmeasured not drawn`]),
  ];
  return { edges, nodes, note: parts.join('; ') };
}
