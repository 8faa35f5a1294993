import { type DotOptions, toDot } from './dot.ts';
import { chooseEngine } from './engine.ts';
import { toGraphML } from './graphml.ts';
import { toGraphJson } from './json.ts';
import { MATRIX_METRICS, type MatrixMetric, renderMatrixSvg } from './matrix.ts';
import type { GraphModel } from './model.ts';
import { renderSvg } from './svg.ts';

export {
  type DotOptions,
  EDGE_COLORS,
  EDGE_LABEL_LIMIT,
  type EdgeState,
  edgeState,
  LATENCY_SCALE,
  type LatencyBand,
  latencyColor,
  penWidth,
  quote as quoteDot,
  THROUGHPUT_PEN_SCALE,
  toDot,
} from './dot.ts';
export { chooseEngine, DOT_ENGINE_MAX_NODES, LAYOUT_ENGINES, type LayoutEngine } from './engine.ts';
export { GraphError } from './errors.ts';
export {
  type Attention,
  attentionOf,
  DEFAULT_EDGE_FOCUS,
  type EdgeFocus,
  type EdgeSelection,
  selectEdges,
} from './focus.ts';
export { GRAPHML_KEYS, type GraphMLKeySpec, type GraphMLType, toGraphML } from './graphml.ts';
export { graphFromJson, parseGraphJson, toGraphJson } from './json.ts';
export { ringLayout } from './layout.ts';
export {
  type CellState,
  drawMatrix,
  MATRIX_COLORS,
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
  type LatencyFigures,
  REGION_LABEL,
  regionOf,
  type ThroughputFigures,
  ZONE_LABEL,
  zoneOf,
} from './model.ts';
export { graphvizVersion, type RenderOptions, renderSvg } from './svg.ts';

export interface RenderedGraph {
  dot: string;
  svg: string;
  graphml: string;
  json: string;
}

/** Every format of one model; the DOT is tuned for the engine that lays it out. */
export async function renderAll(model: GraphModel, options: DotOptions = {}): Promise<RenderedGraph> {
  const engine = options.engine ?? chooseEngine(model.nodes.length);
  const dot = toDot(model, { ...options, engine });
  const svg = await renderSvg(dot, { engine });
  return { dot, svg, graphml: toGraphML(model), json: toGraphJson(model) };
}

/** Every file the render step publishes for one model. */
export type GraphSetFile = keyof RenderedGraph | `matrix-${MatrixMetric}`;

/** File name inside graphs/latest/ and graphs/<time>/, and its media type. */
export const GRAPH_SET_FILES: Readonly<Record<GraphSetFile, { name: string; contentType: string }>> = {
  dot: { name: 'graph.dot', contentType: 'text/vnd.graphviz; charset=utf-8' },
  svg: { name: 'graph.svg', contentType: 'image/svg+xml' },
  graphml: { name: 'graph.graphml', contentType: 'application/graphml+xml' },
  json: { name: 'graph.json', contentType: 'application/json' },
  'matrix-latency': { name: 'matrix-latency.svg', contentType: 'image/svg+xml' },
  'matrix-throughput': { name: 'matrix-throughput.svg', contentType: 'image/svg+xml' },
  'matrix-loss': { name: 'matrix-loss.svg', contentType: 'image/svg+xml' },
};

/** renderAll plus a matrix view per metric: what the render step stores. */
export async function renderGraphSet(
  model: GraphModel,
  options: DotOptions = {},
): Promise<Record<GraphSetFile, string>> {
  const graph = await renderAll(model, options);
  const matrices = Object.fromEntries(
    MATRIX_METRICS.map((metric) => [`matrix-${metric}`, renderMatrixSvg(model, metric)]),
  ) as Record<`matrix-${MatrixMetric}`, string>;
  return { ...graph, ...matrices };
}
