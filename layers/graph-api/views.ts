import { createHash } from 'node:crypto';
import { ValidationError } from '../core/errors.ts';
import { formatBitsPerSecond, formatRatio, formatSeconds } from '../core/format.ts';
import {
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

/**
 * The same model judged against another staleness threshold (ages stay
 * relative to generatedAt). The model is already checked and sorted, so only
 * the staleness is computed again: edges whose age and flag stay the same are
 * shared with `model`, not copied. At 100 nodes (9,900 edges) checking and
 * copying every edge again cost each ?maxAge= request ~80 ms and megabytes of
 * garbage (test/bench/graph-api.bench.ts).
 */
export function withMaxAge(model: GraphModel, maxAgeSeconds: number): GraphModel {
  if (maxAgeSeconds === model.maxAgeSeconds) return model;
  if (!Number.isFinite(maxAgeSeconds) || maxAgeSeconds <= 0) {
    throw new ValidationError('maxAgeSeconds', maxAgeSeconds, 'a finite number of seconds > 0');
  }
  const generatedAtMs = Date.parse(model.generatedAt);
  return {
    ...model,
    maxAgeSeconds,
    edges: model.edges.map((edge) => {
      // As buildGraphModel computes them (model.ts withAge).
      const measuredMs = edge.measuredAt === null ? null : Date.parse(edge.measuredAt);
      const ageSeconds = measuredMs === null ? null : Math.round(generatedAtMs - measuredMs) / 1000;
      const stale = ageSeconds === null || ageSeconds > maxAgeSeconds;
      return ageSeconds === edge.ageSeconds && stale === edge.stale ? edge : { ...edge, ageSeconds, stale };
    }),
  };
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

/** Fingerprints of the models a source handed out, kept as long as the model is. */
const fingerprints = new WeakMap<GraphModel, string>();

/** A model to draw, and what it shows (modelFingerprint's role, for the cache). */
export interface ModelView {
  model: GraphModel;
  fingerprint: string;
}

/**
 * The model judged against `maxAgeSeconds` (absent: its own threshold) and
 * its fingerprint, without hashing every edge per request: `model`'s own
 * fingerprint is computed once per model object (a source hands out the same
 * object until its graph changes), and a threshold of its own is known by
 * the threshold and the stale flag of every edge under it: the only things
 * withMaxAge changes that a picture shows (ages are left out, as in
 * modelFingerprint).
 */
export function viewOfModel(model: GraphModel, maxAgeSeconds?: number): ModelView {
  let base = fingerprints.get(model);
  if (base === undefined) {
    base = modelFingerprint(model);
    fingerprints.set(model, base);
  }
  if (maxAgeSeconds === undefined || maxAgeSeconds === model.maxAgeSeconds) {
    return { model, fingerprint: base };
  }
  const judged = withMaxAge(model, maxAgeSeconds);
  const flags = judged.edges.map((edge) => (edge.stale ? '1' : '0')).join('');
  const fingerprint = createHash('sha256')
    .update(`${base}|maxAge=${maxAgeSeconds}|${flags}`)
    .digest('base64url');
  return { model: judged, fingerprint };
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
  // Drawn edges as quoted src -> quoted dsts: looking up the mesh's 9,900 edges then makes no
  // string per edge (one per edge was megabytes of garbage per view at 100 nodes).
  const drawn = new Map<string, Set<string>>();
  let drawnCount = 0;
  for (const line of body.split('\n')) {
    const match = EDGE_STATEMENT.exec(line);
    // Pinned pictures place labels themselves (lp): only a placed label has room for a figure.
    const placed = !line.includes(' pos="') || line.includes(' lp="');
    if (match === null || !placed) continue;
    const [, src = '', dst = ''] = match;
    const dsts = drawn.get(src) ?? new Set<string>();
    drawn.set(src, dsts);
    if (!dsts.has(dst)) drawnCount += 1;
    dsts.add(dst);
  }
  if (drawnCount > EDGE_LABEL_LIMIT) return dot; // no figure labels at that size: tooltips only
  const quoted = new Map<string, string>();
  const quote = (name: string): string => {
    let id = quoted.get(name);
    if (id === undefined) {
      id = quoteDot(name);
      quoted.set(name, id);
    }
    return id;
  };
  const overrides: string[] = [];
  for (const edge of model.edges) {
    if (edgeState(edge) !== 'ok') continue;
    const src = quote(edge.src);
    const dst = quote(edge.dst);
    if (drawn.get(src)?.has(dst) === true)
      overrides.push(`  ${src} -> ${dst} [label=${quoteDot(metricLabel(edge, metric))}];`);
  }
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
