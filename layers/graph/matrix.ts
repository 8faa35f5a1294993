import { axisLeft, axisRight, axisTop } from 'd3-axis';
import { rgb } from 'd3-color';
import { type ScaleContinuousNumeric, scaleBand, scaleLog, scaleSqrt } from 'd3-scale';
import { type BaseType, type Selection, select } from 'd3-selection';
import { ValidationError } from '../core/errors.ts';
import {
  compactBits,
  compactBitsPerSecond,
  compactNumber,
  compactPercent,
  compactSeconds,
  formatAge,
  formatBitsPerSecond,
  formatRatio,
  formatSeconds,
} from '../core/format.ts';
import {
  HEADLINE_NAMES,
  headlineLatency,
  headlineThroughput,
  LATENCY_SPREAD,
  OTHER_THROUGHPUT_STATS,
} from './headline.ts';
import { compareText, type GraphEdge, type GraphModel, type GraphNode, zoneOf } from './model.ts';
import { MATRIX_COLORS, RAMPS } from './palette.ts';
import { SVG_NS, SvgDocument, type SvgElement, serializeSvg } from './svg-dom.ts';
import { textEms } from './text.ts';

/**
 * The model as a heatmap: one row per source, one column per destination,
 * one cell per ordered pair, coloured by one metric. A full mesh of more than
 * ~15 nodes is a hairball as a node-link graph; the matrix shows every pair
 * at any size, and A->B and B->A are two different cells (asymmetry shows as
 * a matrix that is not symmetric). Drawn with d3 into a small DOM (svg-dom.ts)
 * so that no browser (and no jsdom in the bundle) is needed.
 */

/** The figure a matrix view shows, one per ordered pair. */
export type MatrixMetric = 'latency' | 'throughput' | 'loss';

export const MATRIX_METRICS: readonly MatrixMetric[] = ['latency', 'throughput', 'loss'];

export interface MatrixOptions {
  /** Print each cell's value inside it. Default: up to MATRIX_CELL_VALUES_MAX_NODES nodes. */
  cellValues?: boolean;
}

/** Up to this many nodes the cells are big enough to carry their value as text. */
export const MATRIX_CELL_VALUES_MAX_NODES = 15;

/** Axis labels longer than this are cut with an ellipsis; the full name is in the label's <title>. */
export const MATRIX_LABEL_MAX_CHARS = 32;

export type CellState = 'ok' | 'failed' | 'stale' | 'no-figure' | 'unmeasured' | 'diagonal';

/** Checks a metric name from a user (CLI flag, URL), naming the valid ones. */
export function parseMatrixMetric(value: string, field = 'metric'): MatrixMetric {
  const metric = MATRIX_METRICS.find((m) => m === value);
  if (metric === undefined) throw new ValidationError(field, value, `one of ${MATRIX_METRICS.join(', ')}`);
  return metric;
}

interface ColorScale {
  color: (value: number) => string;
  /** value -> 0..1 along the legend bar (log or square root). */
  position: ScaleContinuousNumeric<number, number>;
  ticks: number[];
  /** The colour at 0..1 along the bar. */
  ramp: (t: number) => string;
}

interface MetricSpec {
  /** "median latency, round trip src → dst → src" (the headline figure's name). */
  title: string;
  /** "median latency": the figure's name in tooltips. */
  name: string;
  better: 'lower' | 'higher';
  value: (edge: GraphEdge) => number | null;
  format: (value: number) => string;
  /** A round legend tick: "100 µs", "10 Gbit/s", "5 %". */
  tick: (value: number) => string;
  /** At most ~5 characters: the text inside a cell. */
  short: (value: number) => string;
  /** Tooltip lines beyond the headline value. */
  details: (edge: GraphEdge) => string[];
  scale: (values: readonly number[]) => ColorScale;
}

function decadesAround(values: readonly number[], floor: number): [number, number] {
  const positive = values.map((v) => Math.max(v, floor));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...positive)));
  return hi > lo ? [lo, hi] : [lo, lo * 10];
}

function logScale(values: readonly number[], floor: number, ramp: (t: number) => string): ColorScale {
  const [lo, hi] = values.length === 0 ? [floor, floor * 1000] : decadesAround(values, floor);
  const position = scaleLog().domain([lo, hi]).range([0, 1]).clamp(true);
  const ticks: number[] = [];
  for (let tick = lo; tick <= hi * 1.0001; tick *= 10) ticks.push(tick);
  return { color: (v) => ramp(position(Math.max(v, floor))), position, ticks, ramp };
}

const LOSS_MAXIMA = [0.01, 0.05, 0.1, 0.25, 0.5, 1];

function lossScale(values: readonly number[]): ColorScale {
  const max = Math.max(0, ...values);
  const top = LOSS_MAXIMA.find((m) => m >= max) ?? 1;
  // Square root: 1 % loss must not look like no loss next to 25 %.
  const position = scaleSqrt().domain([0, top]).range([0, 1]).clamp(true);
  const ticks = position.ticks(4);
  if (!ticks.includes(top)) ticks.push(top);
  return { color: (v) => RAMPS.yellowToRed(position(v)), position, ticks, ramp: RAMPS.yellowToRed };
}

const METRICS: Record<MatrixMetric, MetricSpec> = {
  latency: {
    title: `${HEADLINE_NAMES.latency}, round trip src → dst → src`,
    name: HEADLINE_NAMES.latency,
    better: 'lower',
    value: headlineLatency,
    format: formatSeconds,
    tick: compactSeconds,
    short: (v) => (v < 1 ? compactNumber(v * 1e3) : `${compactNumber(v)}s`),
    details: (e) => [
      `${LATENCY_SPREAD.join(' / ')}: ${LATENCY_SPREAD.map((stat) => formatSeconds(e.latency?.[stat])).join(' / ')}`,
      `loss: ${formatRatio(e.lossRatio)}`,
    ],
    scale: (values) => logScale(values, 1e-6, RAMPS.greenToRed),
  },
  throughput: {
    title: `${HEADLINE_NAMES.throughput} src → dst`,
    name: HEADLINE_NAMES.throughput,
    better: 'higher',
    value: headlineThroughput,
    format: formatBitsPerSecond,
    tick: compactBitsPerSecond,
    short: compactBits,
    details: (e) => [
      `${OTHER_THROUGHPUT_STATS.join(' / ')}: ${OTHER_THROUGHPUT_STATS.map((stat) => formatBitsPerSecond(e.throughput?.[stat])).join(' / ')}`,
    ],
    scale: (values) => logScale(values, 1, RAMPS.paleToBlue),
  },
  loss: {
    title: 'probe loss src → dst',
    name: 'loss',
    better: 'lower',
    value: (e) => e.lossRatio,
    format: formatRatio,
    tick: (v) => compactPercent(v),
    short: (v) => compactPercent(v, false),
    details: (e) => [`${HEADLINE_NAMES.latency}: ${formatSeconds(headlineLatency(e))}`],
    scale: lossScale,
  },
};

/** Unit of the cell text, said once in the legend. */
const SHORT_UNITS: Record<MatrixMetric, string> = {
  latency: 'cell text: ms',
  throughput: 'cell text: bit/s (k, M, G)',
  loss: 'cell text: % of probes lost',
};

export function cellState(edge: GraphEdge | undefined, value: number | null): CellState {
  if (edge === undefined || edge.connectivity === null) return 'unmeasured';
  if (edge.stale) return 'stale';
  if (edge.connectivity === 0) return 'failed';
  return value === null ? 'no-figure' : 'ok';
}

interface Cell {
  src: GraphNode;
  dst: GraphNode;
  edge: GraphEdge | undefined;
  value: number | null;
  state: CellState;
}

/** Zones first (sorted), nodes without a zone last; by name inside a zone. */
export function matrixOrder(nodes: readonly GraphNode[]): GraphNode[] {
  const key = (node: GraphNode): [number, string, string] => {
    const zone = zoneOf(node);
    return [zone === null ? 1 : 0, zone ?? '', node.name];
  };
  return [...nodes].sort((a, b) => {
    const [za, zna, na] = key(a);
    const [zb, znb, nb] = key(b);
    return za - zb || compareText(zna, znb) || compareText(na, nb);
  });
}

function shortLabel(name: string): string {
  const chars = Array.from(name);
  return chars.length <= MATRIX_LABEL_MAX_CHARS
    ? name
    : `${chars.slice(0, MATRIX_LABEL_MAX_CHARS - 1).join('')}…`;
}

function textWidth(text: string, fontSize: number): number {
  return textEms(text) * fontSize;
}

function ageText(edge: GraphEdge): string {
  if (edge.measuredAt === null) return 'never measured';
  return `measured ${edge.measuredAt}${edge.ageSeconds === null ? '' : ` (${formatAge(edge.ageSeconds)} ago)`}`;
}

function cellTooltip(cell: Cell, spec: MetricSpec, maxAgeSeconds: number): string {
  const head = `${cell.src.name} → ${cell.dst.name}`;
  const { edge } = cell;
  if (edge === undefined) return `${head}\nnot measured (no edge for this pair)`;
  const broke = edge.notMeasured;
  const brokeLine =
    broke === null
      ? []
      : [
          `NOT MEASURED: the newest test broke (${broke.reason}) at ${broke.testedAt ?? '?'}; not the network`,
        ];
  if (cell.state === 'unmeasured') return [head, 'not measured', ...brokeLine].join('\n');
  const lines = [head];
  if (cell.state === 'failed') {
    const by =
      edge.connectivitySource === null
        ? ''
        : ` (${edge.connectivitySource} at ${edge.connectivityAt ?? '?'})`;
    lines.push(`FAILED: ${edge.reason ?? 'no reason recorded'}${by}`);
  } else {
    const value = cell.value === null ? 'no figure' : spec.format(cell.value);
    lines.push(`${spec.name}: ${value}`, ...spec.details(edge));
  }
  if (edge.stale) lines.push(`STALE: older than ${formatAge(maxAgeSeconds)}`);
  lines.push(...brokeLine, ageText(edge));
  return lines.join('\n');
}

interface Geometry {
  cell: number;
  font: number;
  left: number;
  top: number;
  size: number;
  legendX: number;
  width: number;
  height: number;
}

const TITLE_BLOCK = 58;
const LEGEND_WIDTH = 230;
const LEGEND_BAR = { width: 14, height: 160 };

function geometry(nodes: readonly GraphNode[], header: readonly string[]): Geometry {
  const n = Math.max(1, nodes.length);
  const cell = Math.min(44, Math.max(10, Math.round(720 / n)));
  const font = Math.min(12, Math.max(7, Math.round(cell * 0.75)));
  const labelWidth = Math.max(20, ...nodes.map((node) => textWidth(shortLabel(node.name), font)));
  const left = 34 + labelWidth + 10;
  const top = TITLE_BLOCK + 22 + labelWidth + 10;
  const size = n * cell;
  const legendX = left + size + 36;
  const legendHeight = 60 + LEGEND_BAR.height + 30 + 5 * 18;
  const width = Math.ceil(
    Math.max(
      legendX + LEGEND_WIDTH,
      ...header.map((line, i) => 20 + textWidth(line, i === 0 ? 15 : 11) + 20),
    ),
  );
  const height = Math.ceil(Math.max(top + size + 24, top + legendHeight));
  return { cell, font, left, top, size, legendX, width, height };
}

/** Anything with createElementNS: the small svg-dom document, or a real (jsdom, browser) one. */
export interface SvgCapableDocument {
  createElementNS(namespace: string, name: string): unknown;
}

type AnySelection = Selection<BaseType, unknown, null, undefined>;

function root(document: SvgCapableDocument): AnySelection {
  return select(document.createElementNS(SVG_NS, 'svg') as BaseType);
}

function header(model: GraphModel, spec: MetricSpec): string[] {
  const subtitle = [
    model.schedule === null ? null : `schedule ${model.schedule}`,
    `generated ${model.generatedAt}`,
    `stale after ${formatAge(model.maxAgeSeconds)}`,
    `${model.nodes.length} nodes, ${model.edges.length} edges`,
  ].filter((part): part is string => part !== null);
  return [model.title, `${spec.title} · ${subtitle.join(' · ')}`];
}

function drawTitle(svg: AnySelection, lines: readonly string[]): void {
  svg
    .append('text')
    .attr('class', 'netmon-title')
    .attr('x', 20)
    .attr('y', 26)
    .attr('font-size', 15)
    .attr('font-weight', 'bold')
    .text(lines[0] ?? '');
  svg
    .append('text')
    .attr('class', 'netmon-subtitle')
    .attr('x', 20)
    .attr('y', 46)
    .attr('font-size', 11)
    .attr('fill', '#404040')
    .text(lines[1] ?? '');
}

function defs(svg: AnySelection, metric: MatrixMetric, scale: ColorScale): void {
  const d = svg.append('defs');
  const hatch = d
    .append('pattern')
    .attr('id', 'netmon-failed-hatch')
    .attr('patternUnits', 'userSpaceOnUse')
    .attr('width', 6)
    .attr('height', 6)
    .attr('patternTransform', 'rotate(45)');
  hatch.append('rect').attr('width', 6).attr('height', 6).attr('fill', '#ffffff');
  hatch
    .append('line')
    .attr('x1', 0)
    .attr('y1', 0)
    .attr('x2', 0)
    .attr('y2', 6)
    .attr('stroke', MATRIX_COLORS.failed)
    .attr('stroke-width', 4);
  // Top of the bar is the top of the scale.
  const gradient = d
    .append('linearGradient')
    .attr('id', `netmon-${metric}-ramp`)
    .attr('x1', 0)
    .attr('y1', 1)
    .attr('x2', 0)
    .attr('y2', 0);
  const stops = Array.from({ length: 17 }, (_, i) => i / 16);
  gradient
    .selectAll('stop')
    .data(stops)
    .join('stop')
    .attr('offset', (t) => `${(t * 100).toFixed(2)}%`)
    .attr('stop-color', (t) => scale.ramp(t));
}

const STATE_FILL: Record<Exclude<CellState, 'ok'>, string> = {
  failed: 'url(#netmon-failed-hatch)',
  stale: MATRIX_COLORS.stale,
  'no-figure': MATRIX_COLORS.noFigure,
  unmeasured: MATRIX_COLORS.unmeasured,
  diagonal: MATRIX_COLORS.diagonal,
};

function fillOf(cell: Cell, scale: ColorScale): string {
  return cell.state === 'ok' && cell.value !== null
    ? scale.color(cell.value)
    : STATE_FILL[cell.state as Exclude<CellState, 'ok'>];
}

/** Black text on light cells, white on dark ones. */
function textColor(fill: string): string {
  if (!fill.startsWith('#') && !fill.startsWith('rgb')) return '#000000';
  const { r, g, b } = rgb(fill);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128 ? '#ffffff' : '#000000';
}

function cellsOf(model: GraphModel, order: readonly GraphNode[], spec: MetricSpec): Cell[] {
  const edges = new Map(model.edges.map((edge) => [`${edge.src}\u0000${edge.dst}`, edge]));
  return order.flatMap((src) =>
    order.map((dst): Cell => {
      if (src.name === dst.name) return { src, dst, edge: undefined, value: null, state: 'diagonal' };
      const edge = edges.get(`${src.name}\u0000${dst.name}`);
      const value = edge === undefined ? null : spec.value(edge);
      return { src, dst, edge, value, state: cellState(edge, value) };
    }),
  );
}

function drawCells(
  svg: AnySelection,
  cells: readonly Cell[],
  geo: Geometry,
  x: (name: string) => number,
  spec: MetricSpec,
  scale: ColorScale,
  options: { values: boolean; maxAgeSeconds: number },
): void {
  const group = svg
    .append('g')
    .attr('class', 'netmon-cells')
    .attr('transform', `translate(${geo.left},${geo.top})`)
    .attr('stroke', '#ffffff')
    .attr('stroke-width', geo.cell >= 20 ? 1 : 0.5);
  const drawn = group
    .selectAll('g')
    .data(cells)
    .join('g')
    .attr('class', (c) => `netmon-cell netmon-${c.state}`)
    .attr('data-src', (c) => c.src.name)
    .attr('data-dst', (c) => c.dst.name);
  const rect = drawn
    .append('rect')
    .attr('x', (c) => x(c.dst.name))
    .attr('y', (c) => x(c.src.name))
    .attr('width', geo.cell)
    .attr('height', geo.cell)
    .attr('fill', (c) => fillOf(c, scale));
  // Unmeasured cells are white: a grey outline tells them from the background.
  rect.filter((c) => c.state === 'unmeasured').attr('stroke', '#bdbdbd');
  drawn
    .filter((c) => c.state !== 'diagonal')
    .append('title')
    .text((c) => cellTooltip(c, spec, options.maxAgeSeconds));
  if (!options.values) return;
  drawn
    .filter((c) => c.value !== null && c.state !== 'failed')
    .append('text')
    .attr('x', (c) => x(c.dst.name) + geo.cell / 2)
    .attr('y', (c) => x(c.src.name) + geo.cell / 2)
    .attr('dy', '0.35em')
    .attr('text-anchor', 'middle')
    .attr('font-size', Math.min(11, Math.round(geo.cell / 4)))
    .attr('stroke', 'none')
    .attr('fill', (c) => textColor(fillOf(c, scale)))
    .text((c) => (c.value === null ? '' : spec.short(c.value)));
}

function tickTitle(node: GraphNode): string {
  const zone = zoneOf(node);
  return zone === null ? node.name : `${node.name}\nzone: ${zone}`;
}

function drawAxes(svg: AnySelection, order: readonly GraphNode[], geo: Geometry): void {
  const names = order.map((n) => n.name);
  const byName = new Map(order.map((n) => [n.name, n]));
  const band = scaleBand<string>().domain(names).range([0, geo.size]);
  const label = (name: string): string => shortLabel(name);
  const columns = svg
    .append('g')
    .attr('class', 'netmon-axis netmon-axis-dst')
    .attr('transform', `translate(${geo.left},${geo.top})`)
    .call(axisTop(band).tickSizeOuter(0).tickFormat(label) as never);
  columns
    .selectAll('.tick')
    .select('text')
    .attr('transform', 'rotate(-90)')
    .attr('x', 9)
    .attr('y', 0)
    .attr('dy', '0.32em')
    .attr('text-anchor', 'start');
  const rows = svg
    .append('g')
    .attr('class', 'netmon-axis netmon-axis-src')
    .attr('transform', `translate(${geo.left},${geo.top})`)
    .call(axisLeft(band).tickSizeOuter(0).tickFormat(label) as never);
  for (const axis of [columns, rows]) {
    axis.attr('font-size', geo.font);
    axis.select('.domain').remove();
    axis
      .selectAll<BaseType, string>('.tick')
      .append('title')
      .text((name) => tickTitle(byName.get(name) ?? { name, address: null, labels: {} }));
  }
  svg
    .append('text')
    .attr('class', 'netmon-axis-title')
    .attr('x', geo.left + geo.size / 2)
    .attr('y', TITLE_BLOCK + 14)
    .attr('text-anchor', 'middle')
    .attr('font-size', 12)
    .text('destination (dst) →');
  svg
    .append('text')
    .attr('class', 'netmon-axis-title')
    .attr('transform', `translate(18,${geo.top + geo.size / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .attr('font-size', 12)
    .text('← source (src)');
}

/** Lines between zones, so that intra-zone blocks stand out on the diagonal. */
function drawZoneLines(svg: AnySelection, order: readonly GraphNode[], geo: Geometry): void {
  const breaks: number[] = [];
  order.forEach((node, i) => {
    const previous = order[i - 1];
    if (previous !== undefined && zoneOf(previous) !== zoneOf(node)) breaks.push(i * geo.cell);
  });
  const group = svg
    .append('g')
    .attr('class', 'netmon-zones')
    .attr('transform', `translate(${geo.left},${geo.top})`)
    .attr('stroke', '#404040')
    .attr('stroke-width', 1.5);
  group
    .selectAll('line.netmon-zone-row')
    .data(breaks)
    .join('line')
    .attr('class', 'netmon-zone-row')
    .attr('x1', 0)
    .attr('x2', geo.size)
    .attr('y1', (y) => y)
    .attr('y2', (y) => y);
  group
    .selectAll('line.netmon-zone-column')
    .data(breaks)
    .join('line')
    .attr('class', 'netmon-zone-column')
    .attr('y1', 0)
    .attr('y2', geo.size)
    .attr('x1', (x) => x)
    .attr('x2', (x) => x);
}

function drawLegend(
  svg: AnySelection,
  model: GraphModel,
  metric: MatrixMetric,
  spec: MetricSpec,
  scale: ColorScale,
  geo: Geometry,
): void {
  const legend = svg
    .append('g')
    .attr('class', 'netmon-legend')
    .attr('transform', `translate(${geo.legendX},${geo.top})`)
    .attr('font-size', 11);
  legend.append('text').attr('y', 0).attr('font-weight', 'bold').text(metric);
  legend.append('text').attr('y', 16).attr('fill', '#404040').text(`${spec.better} is better`);
  legend.append('text').attr('y', 32).attr('fill', '#404040').text(SHORT_UNITS[metric]);
  const bar = legend.append('g').attr('transform', 'translate(0,48)');
  bar
    .append('rect')
    .attr('class', 'netmon-legend-ramp')
    .attr('width', LEGEND_BAR.width)
    .attr('height', LEGEND_BAR.height)
    .attr('fill', `url(#netmon-${metric}-ramp)`)
    .attr('stroke', '#808080');
  bar
    .append('g')
    .attr('class', 'netmon-legend-axis')
    .attr('transform', `translate(${LEGEND_BAR.width},0)`)
    .call(
      axisRight(scale.position.copy().range([LEGEND_BAR.height, 0]))
        .tickValues(scale.ticks)
        .tickSizeOuter(0)
        .tickFormat((v) => spec.tick(Number(v))) as never,
    );
  const swatches: Array<[string, string, string]> = [
    ['failed', STATE_FILL.failed, 'failed: no connectivity'],
    ['stale', STATE_FILL.stale, `stale: older than ${formatAge(model.maxAgeSeconds)}`],
    ['no-figure', STATE_FILL['no-figure'], `reached, no ${metric} figure`],
    ['unmeasured', STATE_FILL.unmeasured, 'not measured'],
  ];
  legend
    .append('g')
    .attr('transform', `translate(0,${48 + LEGEND_BAR.height + 24})`)
    .selectAll('g')
    .data(swatches)
    .join('g')
    .attr('class', ([state]) => `netmon-legend-state netmon-${state}`)
    .attr('transform', (_, i) => `translate(0,${i * 18})`)
    .call((row) => {
      row
        .append('rect')
        .attr('width', 12)
        .attr('height', 12)
        .attr('fill', ([, fill]) => fill)
        .attr('stroke', '#808080');
      row
        .append('text')
        .attr('x', 18)
        .attr('y', 6)
        .attr('dy', '0.35em')
        .text(([, , text]) => text);
    });
}

/**
 * Draws the matrix into `document` (any DOM with createElementNS) and returns
 * its <svg> element, not attached. renderMatrixSvg uses the small svg-dom;
 * a browser or jsdom document gives the same tree.
 */
export function drawMatrix(
  document: SvgCapableDocument,
  model: GraphModel,
  metric: MatrixMetric,
  options: MatrixOptions = {},
): unknown {
  const spec = METRICS[metric];
  const order = matrixOrder(model.nodes);
  const cells = cellsOf(model, order, spec);
  const scale = spec.scale(cells.flatMap((c) => (c.state === 'ok' && c.value !== null ? [c.value] : [])));
  const lines = header(model, spec);
  const geo = geometry(order, lines);
  const svg = root(document)
    .attr('width', geo.width)
    .attr('height', geo.height)
    .attr('viewBox', `0 0 ${geo.width} ${geo.height}`)
    .attr('font-family', 'Helvetica, Arial, sans-serif')
    .attr('class', `netmon-matrix netmon-matrix-${metric}`);
  svg.append('title').text(`${model.title}: ${spec.title}`);
  svg.append('rect').attr('width', geo.width).attr('height', geo.height).attr('fill', '#ffffff');
  defs(svg, metric, scale);
  drawTitle(svg, lines);
  const band = scaleBand<string>()
    .domain(order.map((n) => n.name))
    .range([0, geo.size]);
  const x = (name: string): number => band(name) ?? 0;
  drawCells(svg, cells, geo, x, spec, scale, {
    values: options.cellValues ?? order.length <= MATRIX_CELL_VALUES_MAX_NODES,
    maxAgeSeconds: model.maxAgeSeconds,
  });
  drawZoneLines(svg, order, geo);
  drawAxes(svg, order, geo);
  drawLegend(svg, model, metric, spec, scale, geo);
  return svg.node();
}

/** The model as a src x dst heatmap of one metric: an SVG document (UTF-8 text). */
export function renderMatrixSvg(
  model: GraphModel,
  metric: MatrixMetric,
  options: MatrixOptions = {},
): string {
  const spec = parseMatrixMetric(metric);
  const element = drawMatrix(new SvgDocument(), model, spec, options) as SvgElement;
  return `<?xml version="1.0" encoding="UTF-8"?>\n${serializeSvg(element)}\n`;
}
