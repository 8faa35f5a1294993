import { XMLBuilder } from 'fast-xml-parser';
import { compareText, type GraphEdge, type GraphModel, type GraphNode, regionOf, zoneOf } from './model.ts';
import { xmlSafe } from './text.ts';

/**
 * The model as GraphML for networkx, yEd and Gephi: one typed <key> per
 * attribute, edgedefault="directed", node ids are the node names. A null
 * figure has no <data> element (GraphML's "unknown"). Units are in the key
 * names and descriptions.
 */

export type GraphMLType = 'boolean' | 'int' | 'double' | 'string';
type Scalar = string | number | boolean | null;

/** A GraphML <key>: attr.name carries the unit, desc says what it means. */
export interface GraphMLKeySpec {
  id: string;
  for: 'graph' | 'node' | 'edge';
  name: string;
  type: GraphMLType;
  desc: string;
}

export interface GraphMLKey<T> extends GraphMLKeySpec {
  value: (item: T) => Scalar;
}

/** What every graph file (node-level and zones) says about itself. */
export type GraphHeader = Pick<
  GraphModel,
  'version' | 'title' | 'schedule' | 'generatedAt' | 'maxAgeSeconds'
>;

const GRAPH_KEYS: ReadonlyArray<GraphMLKey<GraphHeader>> = [
  {
    id: 'g_version',
    for: 'graph',
    name: 'version',
    type: 'int',
    desc: 'graph model version',
    value: (m) => m.version,
  },
  { id: 'g_title', for: 'graph', name: 'title', type: 'string', desc: 'title', value: (m) => m.title },
  {
    id: 'g_schedule',
    for: 'graph',
    name: 'schedule',
    type: 'string',
    desc: 'TestSchedule name',
    value: (m) => m.schedule,
  },
  {
    id: 'g_generated_at',
    for: 'graph',
    name: 'generated_at',
    type: 'string',
    desc: 'ISO 8601 UTC time the graph was made',
    value: (m) => m.generatedAt,
  },
  {
    id: 'g_max_age_seconds',
    for: 'graph',
    name: 'max_age_seconds',
    type: 'double',
    desc: 'edges older than this are stale, seconds',
    value: (m) => m.maxAgeSeconds,
  },
];

const NODE_KEYS: ReadonlyArray<GraphMLKey<GraphNode>> = [
  { id: 'n_label', for: 'node', name: 'label', type: 'string', desc: 'node name', value: (n) => n.name },
  {
    id: 'n_address',
    for: 'node',
    name: 'address',
    type: 'string',
    desc: 'node address',
    value: (n) => n.address,
  },
  {
    id: 'n_zone',
    for: 'node',
    name: 'zone',
    type: 'string',
    desc: 'topology.kubernetes.io/zone',
    value: zoneOf,
  },
  {
    id: 'n_region',
    for: 'node',
    name: 'region',
    type: 'string',
    desc: 'topology.kubernetes.io/region',
    value: regionOf,
  },
  {
    id: 'n_labels',
    for: 'node',
    name: 'labels',
    type: 'string',
    desc: 'all Kubernetes node labels as a JSON object',
    value: (n) =>
      JSON.stringify(Object.fromEntries(Object.entries(n.labels).sort(([a], [b]) => compareText(a, b)))),
  },
  {
    id: 'n_clock_residual_seconds',
    for: 'node',
    name: 'clock_residual_seconds',
    type: 'double',
    desc: "largest residual of the implied clock offsets around the node's triangles, seconds (udp_latency)",
    value: (n) => n.clockClosure?.residualSeconds ?? null,
  },
  {
    id: 'n_clock_closure_flagged',
    for: 'node',
    name: 'clock_closure_flagged',
    type: 'boolean',
    desc: 'a triangle through the node does not close: its clock or paths are suspect (udp_latency)',
    value: (n) => n.clockClosure?.flagged ?? null,
  },
];

function edgeDouble(
  name: string,
  desc: string,
  value: (e: GraphEdge) => number | null,
): GraphMLKey<GraphEdge> {
  return { id: `e_${name}`, for: 'edge', name, type: 'double', desc, value };
}

function edgeString(
  name: string,
  desc: string,
  value: (e: GraphEdge) => string | null,
): GraphMLKey<GraphEdge> {
  return { id: `e_${name}`, for: 'edge', name, type: 'string', desc, value };
}

const LATENCY_FIGURES = ['min', 'mean', 'median', 'p99', 'max'] as const;
const THROUGHPUT_FIGURES = ['mean', 'median', 'p99'] as const;
const SWEEP_RTT_FIGURES = [
  ['min', 'rttMinSeconds'],
  ['median', 'rttMedianSeconds'],
  ['p99', 'rttP99Seconds'],
] as const;

const EDGE_KEYS: ReadonlyArray<GraphMLKey<GraphEdge>> = [
  {
    id: 'e_connectivity',
    for: 'edge',
    name: 'connectivity',
    type: 'int',
    desc: '1 reached, 0 failed; absent: never measured',
    value: (e) => e.connectivity,
  },
  {
    id: 'e_reason',
    for: 'edge',
    name: 'reason',
    type: 'string',
    desc: 'why connectivity is 0',
    value: (e) => e.reason,
  },
  ...LATENCY_FIGURES.map((figure) =>
    edgeDouble(
      `latency_${figure}_seconds`,
      `${figure} round-trip latency src -> dst -> src, seconds`,
      (e) => e.latency?.[figure] ?? null,
    ),
  ),
  edgeDouble('loss_ratio', 'lost probes / sent probes, 0..1', (e) => e.lossRatio),
  ...THROUGHPUT_FIGURES.map((figure) =>
    edgeDouble(
      `throughput_${figure}_bits_per_second`,
      `${figure} throughput of data src -> dst, bit/s`,
      (e) => e.throughput?.[figure] ?? null,
    ),
  ),
  {
    id: 'e_tests',
    for: 'edge',
    name: 'tests',
    type: 'string',
    desc: 'flent tests that contributed, comma-separated',
    value: (e) => (e.tests.length === 0 ? null : e.tests.join(',')),
  },
  {
    id: 'e_measured_at',
    for: 'edge',
    name: 'measured_at',
    type: 'string',
    desc: 'ISO 8601 UTC time of the newest measurement',
    value: (e) => e.measuredAt,
  },
  edgeDouble(
    'one_way_delay_seconds',
    'median one-way delay src -> dst, seconds (udp_latency; absent when the clocks made it negative)',
    (e) => e.oneWay?.delaySeconds ?? null,
  ),
  edgeDouble(
    'one_way_loss_ratio',
    'packets lost src -> dst / sent, 0..1 (udp_latency)',
    (e) => e.oneWay?.lossRatio ?? null,
  ),
  edgeDouble(
    'clock_error_bound_seconds',
    "bound on the one-way delay's error: both ends' clock bounds added, seconds",
    (e) => e.oneWay?.clockErrorBoundSeconds ?? null,
  ),
  {
    id: 'e_one_way_delay_trusted',
    for: 'edge',
    name: 'one_way_delay_trusted',
    type: 'boolean',
    desc: 'one clock, or synchronised clocks whose bounds add up to at most 10 % of min RTT / 2',
    value: (e) => e.oneWay?.trusted ?? null,
  },
  edgeString(
    'connectivity_source',
    'what gave connectivity: test (the newest test) or sweep (the last sweep), whichever is fresher',
    (e) => e.connectivitySource,
  ),
  edgeString(
    'connectivity_at',
    'ISO 8601 UTC time of the measurement that gave connectivity',
    (e) => e.connectivityAt,
  ),
  edgeString('concurrency', "how the newest test's round ran: serial or disjoint", (e) => e.concurrency),
  {
    id: 'e_sweep_connectivity',
    for: 'edge',
    name: 'sweep_connectivity',
    type: 'int',
    desc: 'the last sweep: 1 some echo request answered, 0 none',
    value: (e) => e.sweep?.connectivity ?? null,
  },
  edgeString('swept_at', 'ISO 8601 UTC end of the last sweep', (e) => e.sweep?.sweptAt ?? null),
  edgeDouble(
    'sweep_loss_ratio',
    "the last sweep's unanswered echo requests / sent, 0..1",
    (e) => e.sweep?.lossRatio ?? null,
  ),
  ...SWEEP_RTT_FIGURES.map(([figure, field]) =>
    edgeDouble(
      `sweep_rtt_${figure}_seconds`,
      `${figure} round trip of the last sweep's echo requests src -> dst -> src, seconds`,
      (e) => e.sweep?.[field] ?? null,
    ),
  ),
  {
    id: 'e_sweep_under_load',
    for: 'edge',
    name: 'sweep_under_load',
    type: 'boolean',
    desc: 'src or dst was in a bandwidth test during the last sweep (its RTTs include the queues)',
    value: (e) => e.sweep?.underLoad ?? null,
  },
  {
    id: 'e_last_test_connectivity',
    for: 'edge',
    name: 'last_test_connectivity',
    type: 'int',
    desc: 'what the newest measured test said: 1 reached, 0 failed (a fresher sweep may overrule it)',
    value: (e) => e.lastTest?.connectivity ?? null,
  },
  edgeString('last_test_reason', 'why the newest measured test failed', (e) => e.lastTest?.reason ?? null),
  edgeString(
    'last_test_at',
    'ISO 8601 UTC end of the newest measured test',
    (e) => e.lastTest?.testedAt ?? null,
  ),
  edgeString(
    'not_measured_reason',
    'the newest test broke and measured nothing (tool-error, oom-killed, deadline-exceeded, store-unavailable): connectivity and figures are of the last measurement; absent when it measured',
    (e) => e.notMeasured?.reason ?? null,
  ),
  edgeString('not_measured_test', 'the flent test that broke', (e) => e.notMeasured?.test ?? null),
  edgeString(
    'not_measured_at',
    'ISO 8601 UTC end of the test that broke',
    (e) => e.notMeasured?.testedAt ?? null,
  ),
  edgeDouble('age_seconds', 'generated_at - measured_at, seconds', (e) => e.ageSeconds),
  {
    id: 'e_stale',
    for: 'edge',
    name: 'stale',
    type: 'boolean',
    desc: 'never measured or older than max_age_seconds',
    value: (e) => e.stale,
  },
];

/** Every key toGraphML declares, in document order. */
export const GRAPHML_KEYS: readonly GraphMLKeySpec[] = [...GRAPH_KEYS, ...NODE_KEYS, ...EDGE_KEYS].map(
  ({ id, for: domain, name, type, desc }) => ({ id, for: domain, name, type, desc }),
);

/** The graph-level keys every graph file shares (version, title, schedule, time, max age). */
export const GRAPH_HEADER_KEYS = GRAPH_KEYS;

const ATTRIBUTE_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // Parsers turn raw newlines and tabs in attribute values into spaces: keep them as references.
  '\n': '&#10;',
  '\r': '&#13;',
  '\t': '&#9;',
};

const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' };

function escapeWith(
  table: Record<string, string>,
  pattern: RegExp,
): (name: string, value: unknown) => string {
  return (_name, value) => xmlSafe(String(value)).replace(pattern, (char) => table[char] ?? char);
}

/**
 * The builder's own entity handling misses newlines in attribute values (node
 * ids), so it is switched off and these processors escape every value.
 */
const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  indentBy: '  ',
  suppressBooleanAttributes: false,
  processEntities: false,
  attributeValueProcessor: escapeWith(ATTRIBUTE_ESCAPES, /[&<>"'\n\r\t]/g),
  tagValueProcessor: escapeWith(TEXT_ESCAPES, /[&<>\r]/g),
});

interface XmlData {
  '@_key': string;
  '#text': string | number | boolean;
}

function dataOf<T>(keys: ReadonlyArray<GraphMLKey<T>>, item: T): XmlData[] {
  const data: XmlData[] = [];
  for (const key of keys) {
    const value = key.value(item);
    if (value !== null) data.push({ '@_key': key.id, '#text': value });
  }
  return data;
}

function keyElement(key: GraphMLKeySpec): Record<string, string> {
  return {
    '@_id': key.id,
    '@_for': key.for,
    '@_attr.name': key.name,
    '@_attr.type': key.type,
    desc: key.desc,
  };
}

/** The keys, the graph's data, nodes by id and edges by source and target, as one GraphML document. */
export function graphmlDocument<G, N, E>(
  keys: {
    graph: ReadonlyArray<GraphMLKey<G>>;
    node: ReadonlyArray<GraphMLKey<N>>;
    edge: ReadonlyArray<GraphMLKey<E>>;
  },
  graph: G,
  nodes: ReadonlyArray<{ id: string; item: N }>,
  edges: ReadonlyArray<{ source: string; target: string; item: E }>,
): string {
  const document = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    graphml: {
      '@_xmlns': 'http://graphml.graphdrawing.org/xmlns',
      '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
      '@_xsi:schemaLocation':
        'http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd',
      key: [...keys.graph, ...keys.node, ...keys.edge].map(keyElement),
      graph: {
        '@_id': 'netmon',
        '@_edgedefault': 'directed',
        data: dataOf(keys.graph, graph),
        node: nodes.map(({ id, item }) => ({ '@_id': id, data: dataOf(keys.node, item) })),
        edge: edges.map(({ source, target, item }, i) => ({
          '@_id': `e${i}`,
          '@_source': source,
          '@_target': target,
          data: dataOf(keys.edge, item),
        })),
      },
    },
  };
  return builder.build(document);
}

/** Deterministic: the same model gives the same document. */
export function toGraphML(model: GraphModel): string {
  return graphmlDocument(
    { graph: GRAPH_KEYS, node: NODE_KEYS, edge: EDGE_KEYS },
    model,
    model.nodes.map((node) => ({ id: node.name, item: node })),
    model.edges.map((edge) => ({ source: edge.src, target: edge.dst, item: edge })),
  );
}
