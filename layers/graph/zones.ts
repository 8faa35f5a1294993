import { formatBitsPerSecond, formatRatio, formatSeconds } from '../core/format.ts';
import { describe } from '../core/stats.ts';
import {
  type Attrs,
  edgeState,
  FULL_DATA_NOTE,
  headerLines,
  latencyBands,
  type PinnedEdge,
  type PinnedNode,
  penWidth,
  pinnedBody,
  smallRow,
  subtitle,
  titleLabel,
} from './dot.ts';
import { GRAPH_HEADER_KEYS, type GraphMLKey, graphmlDocument } from './graphml.ts';
import { headlineLatency, headlineThroughput } from './headline.ts';
import { compareText, type GraphEdge, type GraphModel, zoneOf } from './model.ts';
import { EDGE_COLORS, latencyColor } from './palette.ts';

/**
 * The zone-level view of a cluster (as Pingmesh reduces racks to single
 * nodes): one node per zone (topology.kubernetes.io/zone) with its node
 * count, one edge per ordered pair of zones with the median and worst of the
 * headline figures over every node pair between them, and the count of
 * failing pairs. Drawn, and written as graph-zones.{dot,svg,graphml,json}.
 */

/** The zone of the nodes that have no zone label. */
export const NO_ZONE = '(no zone)';

/** The middle and the worst of one figure over many pairs; null when none has it. */
export interface Spread {
  median: number | null;
  worst: number | null;
}

/** Figures over the node pairs of one set (a zone pair, or the pairs inside one zone). */
export interface PairSummary {
  /** Ordered node pairs: |src zone| x |dst zone| (inside a zone: n (n - 1)). */
  pairs: number;
  /** Pairs with a fresh figure (connectivity 0 or 1, not stale). */
  measured: number;
  /** Fresh pairs whose test failed. */
  failing: number;
  /** Pairs stale or never measured. */
  stale: number;
  /** Headline round-trip latency, seconds: worst = highest. */
  latency: Spread;
  /** Headline throughput, bit/s: worst = lowest. */
  throughput: Spread;
  /** Loss ratio: worst = highest. */
  lossRatio: Spread;
}

export interface ZoneNode extends PairSummary {
  zone: string;
  nodes: number;
  nodeNames: string[];
}

export interface ZoneEdge extends PairSummary {
  src: string;
  dst: string;
}

export interface ZoneGraph {
  version: 1;
  title: string;
  schedule: string | null;
  generatedAt: string;
  maxAgeSeconds: number;
  zones: ZoneNode[];
  edges: ZoneEdge[];
}

function spread(values: readonly number[], worst: 'max' | 'min'): Spread {
  const d = describe(values);
  return { median: d.median, worst: worst === 'max' ? d.max : d.min };
}

function summary(edges: readonly GraphEdge[], pairs: number): PairSummary {
  const fresh = edges.filter((e) => edgeState(e) === 'ok');
  const figures = (pick: (e: GraphEdge) => number | null): number[] =>
    fresh.map(pick).filter((v): v is number => v !== null);
  return {
    pairs,
    measured: edges.filter((e) => edgeState(e) === 'ok' || edgeState(e) === 'failed').length,
    failing: edges.filter((e) => edgeState(e) === 'failed').length,
    stale: pairs - edges.filter((e) => edgeState(e) === 'ok' || edgeState(e) === 'failed').length,
    latency: spread(figures(headlineLatency), 'max'),
    throughput: spread(figures(headlineThroughput), 'min'),
    lossRatio: spread(
      figures((e) => e.lossRatio),
      'max',
    ),
  };
}

/** The zone view of a model: zones in name order (NO_ZONE last), every ordered pair of distinct zones. */
export function zoneGraph(model: GraphModel): ZoneGraph {
  const zoneOfNode = new Map(model.nodes.map((n) => [n.name, zoneOf(n) ?? NO_ZONE]));
  const members = new Map<string, string[]>();
  for (const node of model.nodes) {
    const zone = zoneOfNode.get(node.name) ?? NO_ZONE;
    members.set(zone, [...(members.get(zone) ?? []), node.name]);
  }
  const zones = [...members.keys()].sort((a, b) =>
    a === NO_ZONE ? 1 : b === NO_ZONE ? -1 : compareText(a, b),
  );
  const between = new Map<string, GraphEdge[]>();
  for (const edge of model.edges) {
    const key = JSON.stringify([zoneOfNode.get(edge.src), zoneOfNode.get(edge.dst)]);
    between.set(key, [...(between.get(key) ?? []), edge]);
  }
  const size = (zone: string): number => members.get(zone)?.length ?? 0;
  const edgesOf = (src: string, dst: string): GraphEdge[] => between.get(JSON.stringify([src, dst])) ?? [];
  return {
    version: 1,
    title: `${model.title}: zones`,
    schedule: model.schedule,
    generatedAt: model.generatedAt,
    maxAgeSeconds: model.maxAgeSeconds,
    zones: zones.map((zone) => ({
      zone,
      nodes: size(zone),
      nodeNames: [...(members.get(zone) ?? [])].sort(compareText),
      ...summary(edgesOf(zone, zone), size(zone) * (size(zone) - 1)),
    })),
    edges: zones.flatMap((src) =>
      zones
        .filter((dst) => dst !== src)
        .map((dst) => ({ src, dst, ...summary(edgesOf(src, dst), size(src) * size(dst)) })),
    ),
  };
}

function figureLine(s: Spread, format: (v: number | null) => string): string {
  return s.median === null ? '' : `median ${format(s.median)} · worst ${format(s.worst)}`;
}

/** What a zone edge's label says: latency, throughput, failing pairs. */
export function zoneEdgeLabel(edge: PairSummary): string {
  return [
    figureLine(edge.latency, formatSeconds),
    figureLine(edge.throughput, formatBitsPerSecond),
    edge.failing === 0 ? '' : `${edge.failing} of ${edge.pairs} pairs failing`,
    edge.stale === 0 ? '' : `${edge.stale} stale or unmeasured`,
  ]
    .filter((line) => line !== '')
    .join('\n');
}

function tooltipOf(title: string, s: PairSummary): string {
  return [
    title,
    `pairs: ${s.pairs} (measured ${s.measured}, failing ${s.failing}, stale or unmeasured ${s.stale})`,
    `latency median / worst: ${formatSeconds(s.latency.median)} / ${formatSeconds(s.latency.worst)}`,
    `throughput median / worst: ${formatBitsPerSecond(s.throughput.median)} / ${formatBitsPerSecond(s.throughput.worst)}`,
    `loss median / worst: ${formatRatio(s.lossRatio.median)} / ${formatRatio(s.lossRatio.worst)}`,
  ].join('\n');
}

function zoneEdgeAttrs(edge: ZoneEdge): Attrs {
  const failing = edge.failing > 0;
  const nothing = edge.measured === 0;
  // Colour and width as the node graph draws a pair (typical figures); failing pairs make the label red.
  return {
    color: nothing
      ? EDGE_COLORS.stale
      : failing && edge.failing === edge.measured
        ? EDGE_COLORS.failed
        : latencyColor(edge.latency.median),
    fontcolor: failing ? EDGE_COLORS.failed : '#303030',
    style: nothing ? 'dotted' : failing && edge.failing === edge.measured ? 'dashed' : 'solid',
    penwidth: penWidth(edge.throughput.median),
    tooltip: tooltipOf(`${edge.src} -> ${edge.dst}`, edge),
    class: `netmon-zone-edge${failing ? ' netmon-failing' : ''}`,
  };
}

/** The zone view as DOT: zones on a ring, every zone pair's arrow labelled beside it. */
export function toZoneDot(graph: ZoneGraph): string {
  const nodes = graph.zones.map(
    (zone): PinnedNode => ({
      id: zone.zone,
      zone: null,
      label: `${zone.zone}\n${zone.nodes} node${zone.nodes === 1 ? '' : 's'}${zone.failing > 0 ? `, ${zone.failing} pairs failing inside` : ''}`,
      attrs: { tooltip: tooltipOf(`zone ${zone.zone}, ${zone.nodes} nodes: pairs inside the zone`, zone) },
    }),
  );
  const edges = graph.edges.map(
    (edge): PinnedEdge => ({
      src: edge.src,
      dst: edge.dst,
      label: zoneEdgeLabel(edge),
      attrs: zoneEdgeAttrs(edge),
    }),
  );
  const nodeCount = graph.zones.reduce((sum, z) => sum + z.nodes, 0);
  const rows = [
    smallRow(subtitle(graph, `${nodeCount} nodes in ${graph.zones.length} zones`)),
    smallRow('each arrow: every node pair from one zone to the other, median and worst of their figures'),
    latencyBands(),
    smallRow('line colour and width: median latency and throughput of the pairs'),
    smallRow(
      'red label: some pairs failing (how many); dashed red: every pair failing; dotted grey: nothing fresh',
      EDGE_COLORS.failed,
    ),
    smallRow(`node pairs: graph.svg (the ones needing attention); ${FULL_DATA_NOTE}`),
  ];
  return [
    ...headerLines(titleLabel(graph.title, rows), 'neato'),
    ...pinnedBody(nodes, edges, 'rings', () => ({})),
    '}',
    '',
  ].join('\n');
}

/** The zone view as JSON (keys in a fixed order: the same graph gives the same text). */
export function toZoneJson(graph: ZoneGraph): string {
  return `${JSON.stringify(graph, null, 2)}\n`;
}

function summaryKeys<T extends PairSummary>(prefix: 'z' | 'e', domain: 'node' | 'edge'): GraphMLKey<T>[] {
  const key =
    (type: 'int' | 'double') =>
    (name: string, desc: string, value: (s: T) => number | null): GraphMLKey<T> => ({
      id: `${prefix}_${name}`,
      for: domain,
      name,
      type,
      desc,
      value,
    });
  const count = key('int');
  const double = key('double');
  return [
    count('pairs', 'ordered node pairs', (s) => s.pairs),
    count('measured', 'pairs with a fresh result', (s) => s.measured),
    count('failing', 'fresh pairs whose test failed', (s) => s.failing),
    count('stale', 'pairs stale or never measured', (s) => s.stale),
    double(
      'latency_median_seconds',
      "median of the pairs' headline latency, seconds",
      (s) => s.latency.median,
    ),
    double('latency_worst_seconds', 'highest headline latency of the pairs, seconds', (s) => s.latency.worst),
    double(
      'throughput_median_bits_per_second',
      "median of the pairs' headline throughput, bit/s",
      (s) => s.throughput.median,
    ),
    double(
      'throughput_worst_bits_per_second',
      'lowest headline throughput of the pairs, bit/s',
      (s) => s.throughput.worst,
    ),
    double('loss_ratio_worst', 'highest loss ratio of the pairs', (s) => s.lossRatio.worst),
  ];
}

const ZONE_NODE_KEYS: ReadonlyArray<GraphMLKey<ZoneNode>> = [
  { id: 'z_label', for: 'node', name: 'label', type: 'string', desc: 'zone', value: (z) => z.zone },
  {
    id: 'z_nodes',
    for: 'node',
    name: 'nodes',
    type: 'int',
    desc: 'nodes in the zone',
    value: (z) => z.nodes,
  },
  ...summaryKeys<ZoneNode>('z', 'node'),
];

const ZONE_EDGE_KEYS: ReadonlyArray<GraphMLKey<ZoneEdge>> = summaryKeys<ZoneEdge>('e', 'edge');

/** The zone view as GraphML: zone nodes (figures of the pairs inside), zone-pair edges. */
export function toZoneGraphML(graph: ZoneGraph): string {
  return graphmlDocument(
    { graph: GRAPH_HEADER_KEYS, node: ZONE_NODE_KEYS, edge: ZONE_EDGE_KEYS },
    graph,
    graph.zones.map((zone) => ({ id: zone.zone, item: zone })),
    graph.edges.map((edge) => ({ source: edge.src, target: edge.dst, item: edge })),
  );
}
