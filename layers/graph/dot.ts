import { formatAge, formatBitsPerSecond, formatRatio, formatSeconds } from '../core/format.ts';
import { LATENCY_STATS, THROUGHPUT_STATS } from '../domain/figures.ts';
import { chooseEngine, type LayoutEngine, PINNED_ATTRIBUTE } from './engine.ts';
import {
  DEFAULT_EDGE_FOCUS,
  type EdgeFocus,
  pictureSelection,
  SMALL_GRAPH_NODES,
  selectEdges,
} from './focus.ts';
import { HEADLINE_NAMES, headlineLatency, headlineThroughput } from './headline.ts';
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
import { type Arrangement, placePicture } from './picture.ts';
import { GRAPH_FONT, sharedSuffix, shortened, textWidth, xmlSafe } from './text.ts';

/**
 * The model as Graphviz DOT. Colour says the headline latency on a fixed
 * scale (so two graphs compare at a glance), width says the headline
 * throughput, dashed red says the pair failed, grey dotted says the figures
 * are old, a hollow arrowhead says the newest test broke and measured
 * nothing (the rest is the last measurement's). Each ordered pair is its own edge, so A->B and B->A show their
 * own figures.
 */

/**
 * dot labels every edge up to this many; above, only failed edges keep a
 * label (their reason). Tooltips carry every figure. (The pinned pictures
 * of neato label by size: SMALL_GRAPH_NODES.)
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
export interface HtmlLabel {
  html: string;
}

export type Attrs = Record<string, string | number | HtmlLabel>;

function attrValue(value: string | number | HtmlLabel): string {
  if (typeof value === 'object') return `<${value.html}>`;
  return quoteText(String(value));
}

/** `[a="x", b="2"]`. */
export function attrList(attrs: Attrs): string {
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

function nodeLine(node: GraphNode, indent: string): string {
  return `${indent}${quote(node.name)}${attrList({ label: nodeLabel(node), tooltip: nodeTooltip(node) })};`;
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

function zoneTooltip(zone: string, members: readonly GraphNode[]): string {
  const regions = [...new Set(members.map(regionOf).filter((r): r is string => r !== null))].sort(
    compareText,
  );
  return `zone: ${zone}${regions.length > 0 ? `\nregion: ${regions.join(', ')}` : ''}`;
}

const ZONE_STYLE: Attrs = { style: 'rounded,dashed', color: '#7f7f7f', fontcolor: '#404040' };

function clusterLines(zone: string, members: readonly GraphNode[]): string[] {
  return [
    `  subgraph ${quote(`cluster_${zone}`)} {`,
    `    graph${attrList({ label: zone, tooltip: zoneTooltip(zone, members), ...ZONE_STYLE })};`,
    ...members.map((node) => nodeLine(node, '    ')),
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

/** The label's note on a newest test that broke: the colour and figures are the last measurement's. */
function notMeasuredNote(edge: GraphEdge): string | null {
  return edge.notMeasured === null ? null : `not measured: ${edge.notMeasured.reason}`;
}

function lines(...parts: ReadonlyArray<string | null>): string {
  return parts.filter((part): part is string => part !== null && part !== '').join('\n');
}

function edgeLabel(edge: GraphEdge, all: boolean): string {
  const note = notMeasuredNote(edge);
  if (edge.connectivity === 0 && !edge.stale) return lines(edge.reason ?? 'failed', note);
  if (!all) return '';
  if (edge.connectivity === null) return note ?? 'not measured';
  const figures = edge.connectivity === 0 ? (edge.reason ?? 'failed') : figuresLabel(edge);
  return lines(figures, edge.stale ? `stale ${formatAge(edge.ageSeconds)}` : null, note);
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
  const source =
    edge.connectivitySource === null
      ? []
      : [`connectivity from: ${edge.connectivitySource} at ${edge.connectivityAt ?? 'an unknown time'}`];
  return [
    `${edge.src} -> ${edge.dst}`,
    `connectivity: ${connectivity}`,
    ...source,
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
    `tests: ${edge.tests.length === 0 ? '-' : edge.tests.join(', ')}${edge.concurrency === null ? '' : ` (${edge.concurrency})`}`,
    ...lastTestLines(edge),
    ...notMeasuredLines(edge),
    ...sweepLines(edge),
    `measured: ${edge.measuredAt ?? 'never'}${edge.ageSeconds === null ? '' : ` (${formatAge(edge.ageSeconds)} ago)`}`,
    `stale: ${edge.stale ? 'yes' : 'no'}`,
  ].join('\n');
}

/** The newest test's own verdict, when the sweep overruled it. */
function lastTestLines(edge: GraphEdge): string[] {
  const test = edge.lastTest;
  if (test === null || edge.connectivitySource !== 'sweep') return [];
  const verdict = test.connectivity === 1 ? 'reached' : `failed (${test.reason ?? 'no reason recorded'})`;
  return [`last test: ${verdict} at ${test.testedAt ?? 'an unknown time'}`];
}

/** The newest test broke: what broke, when, and that the figures above are older. */
function notMeasuredLines(edge: GraphEdge): string[] {
  const broke = edge.notMeasured;
  if (broke === null) return [];
  return [
    `newest test: not measured (${broke.reason}${broke.test === null ? '' : `, ${broke.test}`}) at ${broke.testedAt ?? 'an unknown time'}: the test broke, not the network; connectivity and figures are of the last measurement`,
  ];
}

function sweepLines(edge: GraphEdge): string[] {
  const sweep = edge.sweep;
  if (sweep === null) return [];
  const rtt = figureList([sweep.rttMinSeconds, sweep.rttMedianSeconds, sweep.rttP99Seconds], formatSeconds);
  return [
    `sweep: ${sweep.received ?? '-'}/${sweep.sent ?? '-'} echo replies, loss ${formatRatio(sweep.lossRatio)}, rtt min/median/p99 ${rtt}${sweep.underLoad ? ' (under load)' : ''}`,
    `swept: ${sweep.sweptAt ?? 'unknown'}`,
  ];
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

/** A newest test that broke: a hollow arrowhead, in the colour of the last measurement. */
const NOT_MEASURED_ARROWHEAD = 'empty';

function edgeAttrs(edge: GraphEdge, label: string): Attrs {
  const state = edgeState(edge);
  const tooltip = edgeTooltip(edge);
  const broke = edge.notMeasured !== null;
  return {
    ...edgeStyle(edge, state),
    ...(broke ? { arrowhead: NOT_MEASURED_ARROWHEAD } : {}),
    ...(label === '' ? {} : { label, labeltooltip: tooltip }),
    tooltip,
    class: `netmon-edge netmon-${state}${broke ? ' netmon-not-measured' : ''}`,
  };
}

function edgeLine(edge: GraphEdge, context: EdgeContext): string {
  const attrs: Attrs = {
    ...edgeAttrs(edge, edgeLabel(edge, context.labels)),
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

/** The legend's scale of latency colours, as a one-row table (dot's and the pinned pictures'). */
export function latencyBands(): string {
  // Spacer cells: viewers without the font draw wider text than Graphviz measured.
  const spacer = '<TD WIDTH="10"></TD>';
  const bands = LATENCY_SCALE.map(
    (b) =>
      `<TD BGCOLOR="${b.color}" WIDTH="16" HEIGHT="10"></TD><TD ALIGN="LEFT">${html(b.label)}</TD>${spacer}`,
  ).join('');
  return `<TR><TD ALIGN="LEFT"><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="5" CELLPADDING="0"><TR><TD ALIGN="LEFT">${html(HEADLINE_NAMES.latency)}</TD>${spacer}${bands}</TR></TABLE></TD></TR>`;
}

/** A legend line in the small type. */
export function smallRow(text: string, color?: string): string {
  const body = color === undefined ? html(text) : `<FONT COLOR="${color}">${html(text)}</FONT>`;
  return `<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">${body}</FONT></TD></TR>`;
}

function legendRows(): string[] {
  // One line each: side by side they would collide in viewers with wider fonts.
  return [
    latencyBands(),
    smallRow(
      'dashed red: failed (label: reason); connectivity from the newer of test and sweep',
      EDGE_COLORS.failed,
    ),
    smallRow('dotted grey: stale or never measured', EDGE_COLORS.stale),
    smallRow('hollow arrowhead: newest test broke, not measured (colour: last measurement)'),
    smallRow(`line width: ${HEADLINE_NAMES.throughput}, log scale 1 Mbit/s .. 100 Gbit/s`),
  ];
}

/** Where every pair's figures are, whatever the picture shows: the legend's last line. */
export const FULL_DATA_NOTE =
  'every pair: matrix-latency/-throughput/-loss.svg, graph.json, graph.graphml; zones: graph-zones.svg';

/** The graph label: title in bold, then small lines. Every engine draws it. */
export function titleLabel(title: string, rows: readonly string[]): HtmlLabel {
  return {
    html: [
      '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">',
      `<TR><TD ALIGN="LEFT"><B>${html(title)}</B></TD></TR>`,
      ...rows,
      '</TABLE>',
    ].join(''),
  };
}

/** schedule · generated · stale after · count. */
export function subtitle(
  model: Pick<GraphModel, 'schedule' | 'generatedAt' | 'maxAgeSeconds'>,
  count: string,
): string {
  return [
    model.schedule === null ? null : `schedule ${model.schedule}`,
    `generated ${model.generatedAt}`,
    `stale after ${formatAge(model.maxAgeSeconds)}`,
    count,
  ]
    .filter((part): part is string => part !== null)
    .join(' · ');
}

/** Title, schedule, time, what is drawn, and the legend in one HTML-like graph label. */
function graphLabel(model: GraphModel, notes: readonly string[]): HtmlLabel {
  return titleLabel(model.title, [
    smallRow(subtitle(model, `${model.nodes.length} nodes`)),
    ...notes.map((note) => smallRow(note)),
    ...legendRows(),
  ]);
}

function layoutAttrs(engine: LayoutEngine): Attrs {
  // dot routes A->B and B->A apart by itself; curved arcs keep them apart in the other engines.
  if (engine === 'dot') return { nodesep: 0.5, ranksep: 0.9 };
  // Everything pinned (picture.ts): `layout` tells any Graphviz tool to use neato, `inputscale`
  // that positions are points; renderSvg draws them as they are (neato -n2, PINNED_ATTRIBUTE).
  if (engine === 'neato')
    return {
      layout: 'neato',
      inputscale: 72,
      splines: 'curved',
      overlap: 'true',
      [PINNED_ATTRIBUTE]: 'true',
    };
  return { splines: 'curved', overlap: 'false', sep: '+12' };
}

export function headerLines(label: HtmlLabel, engine: LayoutEngine): string[] {
  const graph: Attrs = {
    label,
    labelloc: 't',
    labeljust: 'l',
    fontname: GRAPH_FONT,
    fontsize: 12,
    bgcolor: 'white',
    pad: 0.3,
    outputorder: 'edgesfirst',
    ...layoutAttrs(engine),
  };
  return [
    `digraph ${quote('netmon')} {`,
    `  graph${attrList(graph)};`,
    `  node${attrList({ shape: 'box', style: 'rounded,filled', fillcolor: '#f7f7f7', color: '#404040', fontname: GRAPH_FONT, fontsize: NODE_FONT_SIZE })};`,
    `  edge${attrList({ fontname: GRAPH_FONT, fontsize: EDGE_FONT_SIZE, arrowsize: 0.6 })};`,
  ];
}

/** Font sizes of the pictures, points. */
const NODE_FONT_SIZE = 10;
const EDGE_FONT_SIZE = 9;
const ZONE_FONT_SIZE = 12;
/** Graphviz sets lines 1.2 font sizes apart. */
const LINE_HEIGHT = 1.2;

function textBox(text: string, fontSize: number): { width: number; height: number } {
  const lines = text.split('\n');
  return {
    width: Math.max(...lines.map((line) => textWidth(line, fontSize))),
    height: lines.length * fontSize * LINE_HEIGHT,
  };
}

/** A node of a pinned picture: its id, zone, shown text and other attributes. */
export interface PinnedNode {
  id: string;
  zone: string | null;
  label: string;
  attrs: Attrs;
}

/** An edge of a pinned picture; label '' for none. */
export interface PinnedEdge {
  src: string;
  dst: string;
  label: string;
  attrs: Attrs;
}

const inches = (points: number): number => Math.ceil((points / 72) * 1000) / 1000;

/**
 * The node, cluster and edge statements of a picture placed by
 * placePicture: every node, zone box, arc and label at its computed place.
 */
export function pinnedBody(
  nodes: readonly PinnedNode[],
  edges: readonly PinnedEdge[],
  arrangement: Arrangement,
  zoneAttrs: (zone: string) => Attrs,
): string[] {
  // Graphviz's box: text + 0.11 in margins left and right, 0.055 in above and below; a little more here.
  const sizes = new Map(
    nodes.map((node) => {
      const text = textBox(node.label, NODE_FONT_SIZE);
      return [node.id, { width: text.width + 20, height: text.height + 10 }];
    }),
  );
  const placement = placePicture(
    nodes.map((node) => ({
      id: node.id,
      zone: node.zone,
      size: sizes.get(node.id) ?? { width: 0, height: 0 },
    })),
    edges.map((edge) => {
      if (edge.label === '') return { src: edge.src, dst: edge.dst, label: null };
      const text = textBox(edge.label, EDGE_FONT_SIZE);
      return { src: edge.src, dst: edge.dst, label: { width: text.width + 2, height: text.height + 1 } };
    }),
    arrangement,
    (zone) => textBox(zone, ZONE_FONT_SIZE),
  );
  const nodeLineOf = (node: PinnedNode, indent: string): string => {
    const at = placement.positions.get(node.id);
    const size = sizes.get(node.id);
    const attrs: Attrs = {
      label: node.label,
      ...node.attrs,
      ...(at === undefined ? {} : { pos: `${at.x},${at.y}!` }),
      ...(size === undefined ? {} : { width: inches(size.width), height: inches(size.height) }),
    };
    return `${indent}${quote(node.id)}${attrList(attrs)};`;
  };
  const lines: string[] = [];
  const zones = [...new Set(nodes.map((n) => n.zone).filter((z): z is string => z !== null))].sort(
    compareText,
  );
  for (const zone of zones) {
    const placed = placement.zones.get(zone);
    const box: Attrs =
      placed === undefined ? {} : { bb: placed.bb, lp: `${placed.labelAt.x},${placed.labelAt.y}` };
    lines.push(
      `  subgraph ${quote(`cluster_${zone}`)} {`,
      `    graph${attrList({ label: zone, fontsize: ZONE_FONT_SIZE, ...ZONE_STYLE, ...zoneAttrs(zone), ...box })};`,
      ...nodes.filter((n) => n.zone === zone).map((n) => nodeLineOf(n, '    ')),
      '  }',
    );
  }
  lines.push(
    ...nodes.filter((n) => n.zone === null || !zones.includes(n.zone)).map((n) => nodeLineOf(n, '  ')),
  );
  edges.forEach((edge, i) => {
    const placed = placement.edges[i];
    const { label: _label, labeltooltip: _tooltip, ...rest } = edge.attrs;
    const labelled =
      placed?.labelAt == null || edge.label === ''
        ? {}
        : {
            label: edge.label,
            labeltooltip: edge.attrs.tooltip ?? '',
            lp: `${placed.labelAt.x},${placed.labelAt.y}`,
          };
    const attrs: Attrs = { ...rest, ...labelled, ...(placed === undefined ? {} : { pos: placed.pos }) };
    lines.push(`  ${quote(edge.src)} -> ${quote(edge.dst)}${attrList(attrs)};`);
  });
  return lines;
}

/**
 * The model's picture with everything pinned: up to SMALL_GRAPH_NODES nodes
 * on rings of zones with both directions of every pair labelled beside
 * their own arcs; above, the selected edges between columns of zones.
 */
function pinnedDot(model: GraphModel, options: DotOptions): string[] {
  const small = model.nodes.length <= SMALL_GRAPH_NODES;
  const focus = options.focus ?? DEFAULT_EDGE_FOCUS;
  // Within focus.allEdgesUpTo every edge is drawn (by default: every graph of up to SMALL_GRAPH_NODES nodes).
  const selection =
    model.edges.length <= focus.allEdgesUpTo
      ? { ...selectEdges(model, focus), nodes: new Map<string, string>() }
      : pictureSelection(model, focus);
  const suffix = sharedSuffix(model.nodes.map((n) => n.name));
  const shown = (node: GraphNode): string => {
    const name = shortened(suffix === '' ? node.name : node.name.slice(0, -suffix.length), NAME_CHARS);
    const marked = selection.nodes.get(node.name);
    if (marked !== undefined) return `${name}\n${marked}`;
    if (!small) return name;
    return [name, node.address, zoneOf(node)].filter((line): line is string => line !== null).join('\n');
  };
  const nodeAttrs = (node: GraphNode): Attrs => ({
    tooltip: nodeTooltip(node),
    ...(selection.nodes.has(node.name) ? { fillcolor: DEGRADED_NODE_FILL, class: 'netmon-degraded' } : {}),
  });
  const labels = options.edgeLabels ?? small;
  const nodes = sortNodes(model.nodes).map(
    (node): PinnedNode => ({ id: node.name, zone: zoneOf(node), label: shown(node), attrs: nodeAttrs(node) }),
  );
  const edges = sortEdges(selection.edges).map(
    (edge): PinnedEdge => ({
      src: edge.src,
      dst: edge.dst,
      label: edgeLabel(edge, labels),
      attrs: edgeAttrs(edge, ''),
    }),
  );
  const members = (zone: string) => model.nodes.filter((n) => zoneOf(n) === zone);
  const notes = [
    ...(selection.note === null ? [] : [selection.note]),
    ...(suffix === '' ? [] : [`node names shown without ${suffix}`]),
    labels
      ? 'each arrow labelled with its own figures; hover for all of them'
      : 'hover an arrow or a node for its figures',
  ];
  return [
    ...headerLines(graphLabel(model, [...notes, FULL_DATA_NOTE]), 'neato'),
    ...pinnedBody(nodes, edges, small ? 'rings' : 'columns', (zone) => ({
      tooltip: zoneTooltip(zone, members(zone)),
    })),
    '}',
  ];
}

/** A node bad towards most of its peers (focus.ts pictureSelection). */
const DEGRADED_NODE_FILL = '#fdd0a2';

/** Node names longer than this are shortened in their boxes (the tooltip has them whole). */
const NAME_CHARS = 40;

/**
 * Deterministic: the same model and options give the same text, byte for
 * byte. Big meshes draw only the edges DotOptions.focus selects (see
 * focus.ts); the title says how many were left out.
 */
export function toDot(model: GraphModel, options: DotOptions = {}): string {
  const engine = options.engine ?? chooseEngine(model.nodes.length);
  if (engine === 'neato') return `${pinnedDot(model, options).join('\n')}\n`;
  const selection = selectEdges(model, options.focus ?? DEFAULT_EDGE_FOCUS);
  const context: EdgeContext = {
    labels: options.edgeLabels ?? (engine === 'dot' && selection.edges.length <= EDGE_LABEL_LIMIT),
    lengthOf: engine === 'dot' ? null : zoneLength(model.nodes),
  };
  const { zoned, loose } = zoneGroups(sortNodes(model.nodes));
  const lines = [
    ...headerLines(graphLabel(model, selection.note === null ? [] : [selection.note]), engine),
    ...[...zoned].flatMap(([zone, members]) => clusterLines(zone, members)),
    ...loose.map((node) => nodeLine(node, '  ')),
    ...sortEdges(selection.edges).map((edge) => edgeLine(edge, context)),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}
