import { type DotOptions, toDot } from './dot.ts';
import { chooseEngine } from './engine.ts';
import { toGraphML } from './graphml.ts';
import { toGraphJson } from './json.ts';
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
export { GRAPHML_KEYS, type GraphMLKeySpec, type GraphMLType, toGraphML } from './graphml.ts';
export { parseGraphJson, toGraphJson } from './json.ts';
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
