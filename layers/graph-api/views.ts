import { createHash } from 'node:crypto';
import { formatBitsPerSecond, formatRatio, formatSeconds } from '../core/format.ts';
import {
  buildGraphModel,
  chooseEngine,
  EDGE_LABEL_LIMIT,
  edgeState,
  type GraphEdge,
  GraphError,
  type GraphModel,
  headlineLatency,
  headlineThroughput,
  quoteDot,
  renderMatrixSvg,
  renderSvg,
  renderZones,
  toDot,
  toGraphJson,
  toGraphML,
} from '../graph/index.ts';
import { GRAPH_SET_FILES, type GraphFormat, type ZoneFile } from '../store/keys.ts';
import { DEFAULT_METRIC, type GraphMetric, type ViewParams } from './params.ts';

/**
 * The documents the API serves, drawn from one graph model: the graph in
 * every format, with a chosen metric on the edge labels, and the matrix.
 */

export type ViewName = GraphFormat | 'matrix' | ZoneFile;

export const VIEW_CONTENT_TYPES: Readonly<Record<ViewName, string>> = {
  dot: GRAPH_SET_FILES.dot.contentType,
  svg: GRAPH_SET_FILES.svg.contentType,
  graphml: GRAPH_SET_FILES.graphml.contentType,
  json: GRAPH_SET_FILES.json.contentType,
  matrix: GRAPH_SET_FILES['matrix-latency'].contentType,
  'zones-dot': GRAPH_SET_FILES['zones-dot'].contentType,
  'zones-svg': GRAPH_SET_FILES['zones-svg'].contentType,
  'zones-graphml': GRAPH_SET_FILES['zones-graphml'].contentType,
  'zones-json': GRAPH_SET_FILES['zones-json'].contentType,
};

/** The same model judged against another staleness threshold (ages stay relative to generatedAt). */
export function withMaxAge(model: GraphModel, maxAgeSeconds: number): GraphModel {
  if (maxAgeSeconds === model.maxAgeSeconds) return model;
  return buildGraphModel({
    title: model.title,
    schedule: model.schedule,
    generatedAt: new Date(model.generatedAt),
    maxAgeSeconds,
    nodes: model.nodes,
    edges: model.edges.map(({ ageSeconds: _age, stale: _stale, ...edge }) => edge),
  });
}

/**
 * What a view shows, without the moment it was drawn: two models with the
 * same fingerprint give the same picture, so a rendering can be reused (and
 * keeps its ETag) until a figure or a stale flag changes.
 */
export function modelFingerprint(model: GraphModel): string {
  const { generatedAt: _at, edges, ...rest } = model;
  // Edge by edge: one JSON text of a 100-node mesh would be megabytes per request.
  const hash = createHash('sha256').update(JSON.stringify(rest));
  for (const { ageSeconds: _age, ...edge } of edges) hash.update(JSON.stringify(edge));
  return hash.digest('base64url');
}

/** The edge's headline figure of `metric`, as the combined view labels it. */
function metricLabel(edge: GraphEdge, metric: GraphMetric): string {
  switch (metric) {
    case 'latency': {
      const seconds = headlineLatency(edge);
      return seconds === null ? '' : formatSeconds(seconds);
    }
    case 'throughput': {
      const bits = headlineThroughput(edge);
      return bits === null ? '' : formatBitsPerSecond(bits);
    }
    case 'loss':
      return edge.lossRatio === null ? '' : `loss ${formatRatio(edge.lossRatio)}`;
  }
}

/** `"a" -> "b"` at the start of an edge statement (DOT IDs as quoteDot writes them). */
const EDGE_STATEMENT = /^\s*("(?:[^"\\]|\\.)*") -> ("(?:[^"\\]|\\.)*") \[/;

/**
 * The graph's DOT with the edges of working pairs labelled by one metric.
 * toDot labels every figure; in a `strict` graph a later statement of the
 * same edge replaces its attributes, so colours, widths, tooltips and the
 * legend stay exactly as the graph layer draws them. Failed and stale edges
 * keep their own labels (the reason, the age). Only edges toDot drew are
 * relabelled (a big mesh draws a selection; a new statement would add one).
 */
export function metricDot(model: GraphModel, metric: GraphMetric): string {
  const dot = toDot(model, { engine: chooseEngine(model.nodes.length) });
  const body = dot.trimEnd();
  if (!/^(strict\s+)?digraph\s/.test(body) || !body.endsWith('}')) {
    throw new GraphError(
      'the graph layer wrote DOT that is not one digraph { ... }: cannot relabel its edges',
    );
  }
  const drawn = new Set<string>();
  for (const line of body.split('\n')) {
    const match = EDGE_STATEMENT.exec(line);
    // Pinned pictures place labels themselves (lp): only a placed label has room for a figure.
    const placed = !line.includes(' pos="') || line.includes(' lp="');
    if (match !== null && placed) drawn.add(`${match[1]} -> ${match[2]}`);
  }
  if (drawn.size > EDGE_LABEL_LIMIT) return dot; // no figure labels at that size: tooltips only
  const overrides = model.edges
    .filter((edge) => edgeState(edge) === 'ok')
    .map((edge) => ({ edge, statement: `${quoteDot(edge.src)} -> ${quoteDot(edge.dst)}` }))
    .filter(({ statement }) => drawn.has(statement))
    .map(({ edge, statement }) => `  ${statement} [label=${quoteDot(metricLabel(edge, metric))}];`);
  const strict = body.startsWith('strict') ? body : `strict ${body}`;
  return `${strict.slice(0, -1)}${overrides.join('\n')}\n}\n`;
}

/** One document of the model. The SVG is laid out with the engine the DOT was tuned for. */
export async function renderView(model: GraphModel, view: ViewName, params: ViewParams): Promise<string> {
  const engine = chooseEngine(model.nodes.length);
  const dot = (): string =>
    params.metric === undefined ? toDot(model, { engine }) : metricDot(model, params.metric);
  switch (view) {
    case 'dot':
      return dot();
    case 'svg':
      return renderSvg(dot(), { engine });
    case 'graphml':
      return toGraphML(model);
    case 'json':
      return toGraphJson(model);
    case 'matrix':
      return renderMatrixSvg(model, params.metric ?? DEFAULT_METRIC);
    case 'zones-dot':
    case 'zones-svg':
    case 'zones-graphml':
    case 'zones-json':
      return (await renderZones(model))[view];
  }
}
