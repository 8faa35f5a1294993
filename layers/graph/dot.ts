import { formatAge, formatBitsPerSecond, formatRatio, formatSeconds } from '../core/format.ts';
import { LATENCY_STATS, THROUGHPUT_STATS } from '../domain/figures.ts';
import { chooseEngine, type LayoutEngine } from './engine.ts';
import { DEFAULT_EDGE_FOCUS, type EdgeFocus, selectEdges } from './focus.ts';
import { HEADLINE_NAMES, headlineLatency, headlineThroughput } from './headline.ts';
import { type Point, ringLayout } from './layout.ts';
import {
  compareText,
  type GraphEdge,
  type GraphModel,
  type GraphNode,
  regionOf,
  sortEdges,
  sortNodes,
  zoneOf,
} from './model.ts';
import { EDGE_COLORS, LATENCY_SCALE, latencyColor } from './palette.ts';
import { xmlSafe } from './text.ts';

/**
 * The model as Graphviz DOT. Colour says the headline latency on a fixed
 * scale (so two graphs compare at a glance), width says the headline
 * throughput, dashed red says the pair failed, grey dotted says the figures
 * are old. Each ordered pair is its own edge, so A->B and B->A show their
 * own figures.
 */

/**
 * dot labels every edge up to this many; above, and always on the rings of
 * neato (where the labels of A->B and B->A would sit on top of each other),
 * only failed edges keep a label (their reason). Tooltips carry every figure.
 */
export const EDGE_LABEL_LIMIT = 240;

export interface DotOptions {
  /**
   * The engine the DOT is tuned for. neato: nodes pinned on rings of zones
   * (layout.ts), neato only routes edges; dot: clusters laid out by dot;
   * sfdp, circo: their own layout. Default: chooseEngine(node count).
   */
  engine?: LayoutEngine;
  /** Label every drawn edge with its figures. Default: dot with at most EDGE_LABEL_LIMIT drawn edges. */
  edgeLabels?: boolean;
  /** Which edges a big graph draws. Default: DEFAULT_EDGE_FOCUS. */
  focus?: EdgeFocus;
}

/** Throughput -> pen width: one step per decade, 1 Mbit/s and below -> 1, 100 Gbit/s and above -> 6. */
export const THROUGHPUT_PEN_SCALE = {
  minBitsPerSecond: 1e6,
  maxBitsPerSecond: 1e11,
  minWidth: 1,
  maxWidth: 6,
} as const;

export function penWidth(bitsPerSecond: number | null): number {
  const { minBitsPerSecond, maxBitsPerSecond, minWidth, maxWidth } = THROUGHPUT_PEN_SCALE;
  if (bitsPerSecond === null || bitsPerSecond <= minBitsPerSecond) return minWidth;
  const fraction =
    Math.log10(bitsPerSecond / minBitsPerSecond) / Math.log10(maxBitsPerSecond / minBitsPerSecond);
  const width = minWidth + Math.min(1, fraction) * (maxWidth - minWidth);
  return Math.round(width * 100) / 100;
}

const ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r' };
const TEXT_ESCAPES: Record<string, string> = { ...ESCAPES, '&': '&amp;' };

/**
 * A DOT double-quoted ID. Quoting every ID keeps keywords (`graph`, `node`),
 * `a->b` and `-1` from meaning anything; the escaping is one-to-one, so
 * distinct names stay distinct nodes. (Graphviz keeps `\\` doubled inside
 * IDs, so an SVG <title> shows a backslash twice; the labels show the name.)
 */
export function quote(text: string): string {
  return `"${xmlSafe(text).replace(/[\\"\n\r]/g, (char) => ESCAPES[char] ?? char)}"`;
}

/**
 * A quoted attribute value shown as text (label, tooltip): Graphviz reads
 * `\\` as a backslash, `\n` as a line break and `&amp;` as `&`, and would
 * otherwise turn `&lt;` or `&amp;` in a name into characters.
 */
export function quoteText(text: string): string {
  return `"${xmlSafe(text).replace(/[\\"\n\r&]/g, (char) => TEXT_ESCAPES[char] ?? char)}"`;
}

/** Text for an HTML-like label (the graph legend). */
function html(text: string): string {
  return xmlSafe(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\r?\n|\r/g, '<BR ALIGN="LEFT"/>');
}

/** An HTML-like label, already escaped; every other value is quoted. */
interface HtmlLabel {
  html: string;
}

type Attrs = Record<string, string | number | HtmlLabel>;

function attrValue(value: string | number | HtmlLabel): string {
  if (typeof value === 'object') return `<${value.html}>`;
  return quoteText(String(value));
}

/** `[a="x", b="2"]`. */
function attrList(attrs: Attrs): string {
  const parts = Object.entries(attrs).map(([key, value]) => `${key}=${attrValue(value)}`);
  return parts.length === 0 ? '' : ` [${parts.join(', ')}]`;
}

function nodeTooltip(node: GraphNode): string {
  const lines = [node.name, `address: ${node.address ?? '-'}`];
  const zone = zoneOf(node);
  const region = regionOf(node);
  if (zone !== null) lines.push(`zone: ${zone}`);
  if (region !== null) lines.push(`region: ${region}`);
  for (const key of Object.keys(node.labels).sort(compareText)) lines.push(`${key}=${node.labels[key]}`);
  return lines.join('\n');
}

function nodeLabel(node: GraphNode): string {
  return node.address === null ? node.name : `${node.name}\n${node.address}`;
}

/** Where each node is pinned (inches), or null when the engine places nodes itself. */
type Positions = Map<string, Point> | null;

function nodeLine(node: GraphNode, indent: string, positions: Positions): string {
  const at = positions?.get(node.name);
  const attrs: Attrs = { label: nodeLabel(node), tooltip: nodeTooltip(node) };
  if (at !== undefined) attrs.pos = `${at.x},${at.y}!`;
  return `${indent}${quote(node.name)}${attrList(attrs)};`;
}

function zoneGroups(nodes: readonly GraphNode[]): { zoned: Map<string, GraphNode[]>; loose: GraphNode[] } {
  const zoned = new Map<string, GraphNode[]>();
  const loose: GraphNode[] = [];
  for (const node of nodes) {
    const zone = zoneOf(node);
    if (zone === null) loose.push(node);
    else zoned.set(zone, [...(zoned.get(zone) ?? []), node]);
  }
  return { zoned: new Map([...zoned].sort(([a], [b]) => compareText(a, b))), loose };
}

function clusterLines(zone: string, members: readonly GraphNode[], positions: Positions): string[] {
  const regions = [...new Set(members.map(regionOf).filter((r): r is string => r !== null))].sort(
    compareText,
  );
  const tooltip = `zone: ${zone}${regions.length > 0 ? `\nregion: ${regions.join(', ')}` : ''}`;
  return [
    `  subgraph ${quote(`cluster_${zone}`)} {`,
    `    graph${attrList({ label: zone, tooltip, style: 'rounded,dashed', color: '#7f7f7f', fontcolor: '#404040' })};`,
    ...members.map((node) => nodeLine(node, '    ', positions)),
    '  }',
  ];
}

function figuresLabel(edge: GraphEdge): string {
  const lines: string[] = [];
  const latency = headlineLatency(edge);
  const throughput = headlineThroughput(edge);
  if (latency !== null) lines.push(formatSeconds(latency));
  if (throughput !== null) lines.push(formatBitsPerSecond(throughput));
  return lines.join('\n');
}

function edgeLabel(edge: GraphEdge, all: boolean): string {
  if (edge.connectivity === 0 && !edge.stale) return edge.reason ?? 'failed';
  if (!all) return '';
  if (edge.connectivity === null) return 'not measured';
  const figures = edge.connectivity === 0 ? (edge.reason ?? 'failed') : figuresLabel(edge);
  if (!edge.stale) return figures;
  return `${figures}${figures === '' ? '' : '\n'}stale ${formatAge(edge.ageSeconds)}`;
}

function figureList(values: ReadonlyArray<number | null>, format: (v: number | null) => string): string {
  return values.map(format).join(' / ');
}

function edgeTooltip(edge: GraphEdge): string {
  const l = edge.latency;
  const t = edge.throughput;
  const connectivity =
    edge.connectivity === null
      ? 'not measured'
      : `${edge.connectivity}${edge.connectivity === 0 ? ` (${edge.reason ?? 'no reason recorded'})` : ''}`;
  return [
    `${edge.src} -> ${edge.dst}`,
    `connectivity: ${connectivity}`,
    `latency ${LATENCY_STATS.join('/')}: ${
      l === null
        ? '-'
        : figureList(
            LATENCY_STATS.map((stat) => l[stat]),
            formatSeconds,
          )
    }`,
    `loss: ${formatRatio(edge.lossRatio)}`,
    `throughput ${THROUGHPUT_STATS.join('/')}: ${
      t === null
        ? '-'
        : figureList(
            THROUGHPUT_STATS.map((stat) => t[stat]),
            formatBitsPerSecond,
          )
    }`,
    `tests: ${edge.tests.length === 0 ? '-' : edge.tests.join(', ')}`,
    `measured: ${edge.measuredAt ?? 'never'}${edge.ageSeconds === null ? '' : ` (${formatAge(edge.ageSeconds)} ago)`}`,
    `stale: ${edge.stale ? 'yes' : 'no'}`,
  ].join('\n');
}

export type EdgeState = 'ok' | 'failed' | 'stale' | 'unmeasured';

export function edgeState(edge: GraphEdge): EdgeState {
  if (edge.connectivity === null) return 'unmeasured';
  // Old figures say nothing about now, whatever they were.
  if (edge.stale) return 'stale';
  return edge.connectivity === 0 ? 'failed' : 'ok';
}

function edgeStyle(edge: GraphEdge, state: EdgeState): Attrs {
  switch (state) {
    case 'unmeasured':
    case 'stale':
      return { color: EDGE_COLORS.stale, fontcolor: EDGE_COLORS.stale, style: 'dotted', penwidth: 1 };
    case 'failed':
      return { color: EDGE_COLORS.failed, fontcolor: EDGE_COLORS.failed, style: 'dashed', penwidth: 1.5 };
    case 'ok':
      return {
        color: latencyColor(headlineLatency(edge)),
        fontcolor: '#303030',
        style: 'solid',
        penwidth: penWidth(headlineThroughput(edge)),
      };
  }
}

interface EdgeContext {
  labels: boolean;
  /** neato/sfdp: preferred length, so that nodes of one zone settle together. */
  lengthOf: ((edge: GraphEdge) => number) | null;
}

function edgeLine(edge: GraphEdge, context: EdgeContext): string {
  const state = edgeState(edge);
  const tooltip = edgeTooltip(edge);
  const label = edgeLabel(edge, context.labels);
  const attrs: Attrs = {
    ...edgeStyle(edge, state),
    ...(label === '' ? {} : { label, labeltooltip: tooltip }),
    tooltip,
    class: `netmon-edge netmon-${state}`,
    ...(context.lengthOf === null ? {} : { len: context.lengthOf(edge) }),
  };
  return `  ${quote(edge.src)} -> ${quote(edge.dst)}${attrList(attrs)};`;
}

function zoneLength(nodes: readonly GraphNode[]): (edge: GraphEdge) => number {
  const zones = new Map(nodes.map((node) => [node.name, zoneOf(node)]));
  return (edge) => {
    const zone = zones.get(edge.src);
    return zone != null && zone === zones.get(edge.dst) ? 1.5 : 3;
  };
}

function legendRows(): string[] {
  // Spacer cells: viewers without Helvetica draw wider text than Graphviz measured.
  const spacer = '<TD WIDTH="10"></TD>';
  const bands = LATENCY_SCALE.map(
    (b) =>
      `<TD BGCOLOR="${b.color}" WIDTH="16" HEIGHT="10"></TD><TD ALIGN="LEFT">${html(b.label)}</TD>${spacer}`,
  ).join('');
  // One line each: viewers without Helvetica use wider fonts than Graphviz measured, so side by side they collide.
  const styles = [
    `<FONT COLOR="${EDGE_COLORS.failed}">dashed red: failed (label: reason)</FONT>`,
    `<FONT COLOR="${EDGE_COLORS.stale}">dotted grey: stale or never measured</FONT>`,
    `line width: ${HEADLINE_NAMES.throughput}, log scale 1 Mbit/s .. 100 Gbit/s`,
  ].map((text) => `<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">${text}</FONT></TD></TR>`);
  return [
    `<TR><TD ALIGN="LEFT"><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="5" CELLPADDING="0"><TR><TD ALIGN="LEFT">${html(HEADLINE_NAMES.latency)}</TD>${spacer}${bands}</TR></TABLE></TD></TR>`,
    ...styles,
  ];
}

/** Title, schedule, time, what is drawn, and the legend in one HTML-like graph label: every engine draws it. */
function graphLabel(model: GraphModel, note: string | null): HtmlLabel {
  const subtitle = [
    model.schedule === null ? null : `schedule ${model.schedule}`,
    `generated ${model.generatedAt}`,
    `stale after ${formatAge(model.maxAgeSeconds)}`,
    `${model.nodes.length} nodes`,
  ]
    .filter((part): part is string => part !== null)
    .join(' · ');
  const small = (text: string): string =>
    `<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">${html(text)}</FONT></TD></TR>`;
  const rows = [
    '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">',
    `<TR><TD ALIGN="LEFT"><B>${html(model.title)}</B></TD></TR>`,
    small(subtitle),
    ...(note === null ? [] : [small(note)]),
    ...legendRows(),
    '</TABLE>',
  ];
  return { html: rows.join('') };
}

function layoutAttrs(engine: LayoutEngine): Attrs {
  // dot routes A->B and B->A apart by itself; curved arcs keep them apart in the other engines.
  if (engine === 'dot') return { nodesep: 0.5, ranksep: 0.9 };
  // Pinned nodes (ringLayout) never overlap: no overlap removal to pay for. `layout` tells
  // any Graphviz tool reading the file to use neato.
  if (engine === 'neato') return { layout: 'neato', splines: 'curved', overlap: 'true' };
  return { splines: 'curved', overlap: 'false', sep: '+12' };
}

function headerLines(model: GraphModel, engine: LayoutEngine, note: string | null): string[] {
  const graph: Attrs = {
    label: graphLabel(model, note),
    labelloc: 't',
    labeljust: 'l',
    fontname: 'Helvetica',
    fontsize: 12,
    bgcolor: 'white',
    pad: 0.3,
    outputorder: 'edgesfirst',
    ...layoutAttrs(engine),
  };
  return [
    `digraph ${quote('netmon')} {`,
    `  graph${attrList(graph)};`,
    `  node${attrList({ shape: 'box', style: 'rounded,filled', fillcolor: '#f7f7f7', color: '#404040', fontname: 'Helvetica', fontsize: 11 })};`,
    `  edge${attrList({ fontname: 'Helvetica', fontsize: 9, arrowsize: 0.6 })};`,
  ];
}

/**
 * Deterministic: the same model and options give the same text, byte for
 * byte. Big meshes draw only the edges DotOptions.focus selects (see
 * focus.ts); the title says how many were left out.
 */
export function toDot(model: GraphModel, options: DotOptions = {}): string {
  const engine = options.engine ?? chooseEngine(model.nodes.length);
  const selection = selectEdges(model, options.focus ?? DEFAULT_EDGE_FOCUS);
  const context: EdgeContext = {
    labels: options.edgeLabels ?? (engine === 'dot' && selection.edges.length <= EDGE_LABEL_LIMIT),
    lengthOf: engine === 'dot' || engine === 'neato' ? null : zoneLength(model.nodes),
  };
  const positions: Positions = engine === 'neato' ? ringLayout(model.nodes, nodeLabel) : null;
  const { zoned, loose } = zoneGroups(sortNodes(model.nodes));
  const lines = [
    ...headerLines(model, engine, selection.note),
    ...[...zoned].flatMap(([zone, members]) => clusterLines(zone, members, positions)),
    ...loose.map((node) => nodeLine(node, '  ', positions)),
    ...sortEdges(selection.edges).map((edge) => edgeLine(edge, context)),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}
