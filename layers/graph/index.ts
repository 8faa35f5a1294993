import type { GraphFormat, GraphSetFile, ZoneFile } from '../store/keys.ts';
import { type DotOptions, toDot } from './dot.ts';
import { chooseEngine } from './engine.ts';
import { toGraphML } from './graphml.ts';
import { toGraphJson } from './json.ts';
import { MATRIX_METRICS, type MatrixMetric, renderMatrixSvg } from './matrix.ts';
import type { GraphModel } from './model.ts';
import { renderSvg } from './svg.ts';
import { toZoneDot, toZoneGraphML, toZoneJson, zoneGraph } from './zones.ts';

// The set's file names and media types are part of the S3 layout (store/keys.ts); here for the graph's readers.
export {
  type DotOptions,
  EDGE_LABEL_LIMIT,
  type EdgeState,
  edgeState,
  penWidth,
  quote as quoteDot,
  THROUGHPUT_PEN_SCALE,
  toDot,
} from './dot.ts';
export { chooseEngine, LAYOUT_ENGINES, type LayoutEngine, PINNED_ATTRIBUTE } from './engine.ts';
export { GraphError } from './errors.ts';
export {
  type Attention,
  attentionOf,
  DEFAULT_EDGE_FOCUS,
  type EdgeFocus,
  type EdgeSelection,
  selectEdges,
} from './focus.ts';
export { type GraphFromMetricsOptions, graphFromMetrics } from './from-metrics.ts';
export { GRAPHML_KEYS, type GraphMLKeySpec, type GraphMLType, toGraphML } from './graphml.ts';
export { HEADLINE_NAMES, headlineLatency, headlineThroughput } from './headline.ts';
export { graphFromJson, parseGraphJson, toGraphJson } from './json.ts';
export {
  type CellState,
  drawMatrix,
  MATRIX_METRICS,
  type MatrixMetric,
  type MatrixOptions,
  parseMatrixMetric,
  renderMatrixSvg,
  type SvgCapableDocument,
} from './matrix.ts';
export {
  buildGraphModel,
  type GraphEdge,
  type GraphEdgeInput,
  type GraphModel,
  type GraphModelInput,
  type GraphNode,
  REGION_LABEL,
  regionOf,
  ZONE_LABEL,
  zoneOf,
} from './model.ts';
export {
  EDGE_COLORS,
  LATENCY_SCALE,
  type LatencyBand,
  latencyColor,
  MATRIX_COLORS,
} from './palette.ts';
export { graphvizVersion, type RenderOptions, renderSvg } from './svg.ts';
export {
  NO_ZONE,
  type PairSummary,
  type Spread,
  toZoneDot,
  toZoneGraphML,
  toZoneJson,
  type ZoneEdge,
  type ZoneGraph,
  type ZoneNode,
  zoneEdgeLabel,
  zoneGraph,
} from './zones.ts';

/** The graph in every format (store/keys.ts names the files). */
export type RenderedGraph = Record<GraphFormat, string>;

/** Fails to compile unless the stored set has exactly one matrix file per metric. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type MatrixFilesMatchMetrics = Assert<
  Same<Exclude<GraphSetFile, GraphFormat | ZoneFile>, `matrix-${MatrixMetric}`>
>;

/** The zone view in every format (store/keys.ts ZONE_FORMATS names the files). */
export async function renderZones(model: GraphModel): Promise<Record<ZoneFile, string>> {
  const zones = zoneGraph(model);
  const dot = toZoneDot(zones);
  return {
    'zones-dot': dot,
    'zones-svg': await renderSvg(dot),
    'zones-graphml': toZoneGraphML(zones),
    'zones-json': toZoneJson(zones),
  };
}

/** Every format of one model; the DOT is tuned for the engine that lays it out. */
export async function renderAll(model: GraphModel, options: DotOptions = {}): Promise<RenderedGraph> {
  const engine = options.engine ?? chooseEngine(model.nodes.length);
  const dot = toDot(model, { ...options, engine });
  const svg = await renderSvg(dot, { engine });
  return { dot, svg, graphml: toGraphML(model), json: toGraphJson(model) };
}

/** renderAll plus a matrix view per metric and the zone view: what the render step stores. */
export async function renderGraphSet(
  model: GraphModel,
  options: DotOptions = {},
): Promise<Record<GraphSetFile, string>> {
  const graph = await renderAll(model, options);
  const matrices = Object.fromEntries(
    MATRIX_METRICS.map((metric) => [`matrix-${metric}`, renderMatrixSvg(model, metric)]),
  ) as Record<`matrix-${MatrixMetric}`, string>;
  return { ...graph, ...matrices, ...(await renderZones(model)) };
}
