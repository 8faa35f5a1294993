/// <reference lib="dom" />
import { easeCubicInOut, select, selectAll, transition } from 'd3';
import { graphviz } from 'd3-graphviz';
import { formatAge, formatBitsPerSecond, formatRatio, formatSeconds } from '../../../layers/core/format.ts';
import { HEADLINE_LATENCY_STAT, HEADLINE_THROUGHPUT_STAT } from '../../../layers/domain/headline.ts';
import { chooseEngine } from '../../../layers/graph/engine.ts';
import { LATENCY_SPREAD, OTHER_THROUGHPUT_STATS } from '../../../layers/graph/headline.ts';
import type { GraphEdge, GraphModel } from '../../../layers/graph/model.ts';

/**
 * The interactive graph page (browser side). It polls graph.dot with
 * If-None-Match and lets d3-graphviz animate each new graph into the old
 * one; graph.json gives the figures shown when an edge is hovered. The
 * body's data attributes say what is drawn (state, metric, renders), for
 * people reading the DOM and for the browser test.
 */

type Metric = 'latency' | 'throughput' | 'loss';

interface Fetched {
  text: string;
  etag: string | null;
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

const body = document.body;
const container = element<HTMLElement>('graph');
const picker = element<HTMLSelectElement>('metric');
const status = element<HTMLElement>('status');
const tooltip = element<HTMLElement>('tooltip');
const pollMs = Math.max(1, Number(body.dataset.pollSeconds) || 15) * 1000;
const maxAge = body.dataset.maxAge ?? '';

const state = {
  /** The metric of the graph on screen (the picker may already say another). */
  drawn: null as Metric | null,
  dotTag: null as string | null,
  jsonTag: null as string | null,
  model: null as GraphModel | null,
  edges: new Map<string, GraphEdge>(),
  selected: null as string | null,
  renders: 0,
};

const renderer = graphviz(container, {
  useWorker: false,
  fit: true,
  zoom: true,
  width: container.clientWidth,
  height: container.clientHeight,
}).transition(() => transition().duration(750).ease(easeCubicInOut) as never);

function query(metric: Metric | null): string {
  const params = new URLSearchParams();
  if (metric !== null) params.set('metric', metric);
  if (maxAge !== '') params.set('maxAge', maxAge);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/** The document, or null when it has not changed since `etag`. */
async function fetchIfChanged(path: string, etag: string | null): Promise<Fetched | null> {
  const response = await fetch(path, { headers: etag === null ? {} : { 'If-None-Match': etag } });
  if (response.status === 304) return null;
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: the text itself
    }
    throw new Error(`${path}: ${response.status} ${message}`);
  }
  return { text, etag: response.headers.get('ETag') };
}

function titleOf(group: Element): string {
  return group.querySelector('title')?.textContent ?? '';
}

function edgeOf(group: Element): GraphEdge | undefined {
  return state.edges.get(titleOf(group));
}

/** "median 0.400 ms (min 0.320 ms, p99 0.800 ms)": the headline figure first, the others in brackets. */
function figures<S extends string>(
  values: Readonly<Record<S, number | null>>,
  headline: S,
  others: readonly S[],
  format: (value: number | null) => string,
): string {
  const rest = others.map((stat) => `${stat} ${format(values[stat])}`).join(', ');
  return `${headline} ${format(values[headline])} (${rest})`;
}

function edgeLines(edge: GraphEdge): Array<{ text: string; metric?: Metric }> {
  const l = edge.latency;
  const t = edge.throughput;
  const connectivity =
    edge.connectivity === null
      ? 'not measured'
      : edge.connectivity === 1
        ? 'ok'
        : `failed: ${edge.reason ?? '?'}`;
  return [
    { text: `${edge.src} → ${edge.dst}` },
    { text: `connectivity  ${connectivity}` },
    {
      text: `latency       ${l === null ? '-' : figures(l, HEADLINE_LATENCY_STAT, LATENCY_SPREAD, formatSeconds)}`,
      metric: 'latency',
    },
    { text: `loss          ${formatRatio(edge.lossRatio)}`, metric: 'loss' },
    {
      text: `throughput    ${t === null ? '-' : figures(t, HEADLINE_THROUGHPUT_STAT, OTHER_THROUGHPUT_STATS, formatBitsPerSecond)}`,
      metric: 'throughput',
    },
    { text: `tests         ${edge.tests.length === 0 ? '-' : edge.tests.join(', ')}` },
    ...(edge.notMeasured === null
      ? []
      : [
          {
            text: `newest test   not measured: ${edge.notMeasured.reason} (the test broke, not the network)`,
          },
        ]),
    {
      text: `measured      ${edge.measuredAt ?? 'never'}${edge.ageSeconds === null ? '' : ` (${formatAge(edge.ageSeconds)} before the graph)`}${edge.stale ? ', stale' : ''}`,
    },
  ];
}

function showTooltip(edge: GraphEdge, event: MouseEvent): void {
  tooltip.replaceChildren(
    ...edgeLines(edge).map((line) => {
      const div = document.createElement('div');
      div.textContent = line.text;
      if (line.metric !== undefined && line.metric === state.drawn) div.className = 'current';
      return div;
    }),
  );
  tooltip.dataset.edge = `${edge.src}->${edge.dst}`;
  tooltip.hidden = false;
  moveTooltip(event);
}

function moveTooltip(event: MouseEvent): void {
  const x = Math.min(event.clientX + 14, window.innerWidth - tooltip.offsetWidth - 4);
  const y = Math.min(event.clientY + 14, window.innerHeight - tooltip.offsetHeight - 4);
  tooltip.style.left = `${Math.max(0, x)}px`;
  tooltip.style.top = `${Math.max(0, y)}px`;
}

function hideTooltip(): void {
  tooltip.hidden = true;
  delete tooltip.dataset.edge;
}

/** A selected node shows its edges (both directions); everything else fades. */
function applySelection(): void {
  const selected = state.selected;
  selectAll<SVGGElement, unknown>('#graph g.node').each(function () {
    const name = titleOf(this);
    select(this)
      .classed('selected', name === selected)
      .classed('dimmed', selected !== null && name !== selected);
  });
  selectAll<SVGGElement, unknown>('#graph g.edge').each(function () {
    const edge = edgeOf(this);
    const touches =
      selected !== null && edge !== undefined && (edge.src === selected || edge.dst === selected);
    select(this)
      .classed('highlight', touches)
      .classed('dimmed', selected !== null && !touches);
    if (touches && edge !== undefined) {
      // The neighbours stay readable too.
      const other = edge.src === selected ? edge.dst : edge.src;
      selectAll<SVGGElement, unknown>('#graph g.node')
        .filter(function () {
          return titleOf(this) === other;
        })
        .classed('dimmed', false);
    }
  });
  body.dataset.selected = selected ?? '';
}

/** Hover and click handlers on the freshly drawn elements (d3-graphviz replaces them on every render). */
function decorate(): void {
  // Graphviz's own tooltips (the SVG anchors' titles) would cover the page's.
  selectAll('#graph g.edge a, #graph g.node a').attr('xlink:title', null);
  selectAll<SVGGElement, unknown>('#graph g.edge')
    .on('mouseenter', function (event: MouseEvent) {
      const edge = edgeOf(this);
      if (edge !== undefined) showTooltip(edge, event);
    })
    .on('mousemove', (event: MouseEvent) => moveTooltip(event))
    .on('mouseleave', hideTooltip);
  selectAll<SVGGElement, unknown>('#graph g.node').on('click', function (event: MouseEvent) {
    event.stopPropagation();
    const name = titleOf(this);
    state.selected = state.selected === name ? null : name;
    applySelection();
  });
  select('#graph svg').on('click.select', () => {
    state.selected = null;
    applySelection();
  });
  if (state.selected !== null && !state.model?.nodes.some((node) => node.name === state.selected)) {
    state.selected = null;
  }
  applySelection();
}

let pending: { resolve: () => void; reject: (err: Error) => void } | null = null;

renderer
  .on('end', () => {
    decorate();
    pending?.resolve();
    pending = null;
  })
  .onerror((message) => {
    pending?.reject(new Error(`Graphviz could not draw the graph: ${message}`));
    pending = null;
  });

function draw(dot: string, nodes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    pending = { resolve, reject };
    renderer.engine(chooseEngine(nodes)).renderDot(dot);
  });
}

function showStatus(text: string, failed: boolean): void {
  status.textContent = text;
  body.dataset.state = failed ? 'error' : 'ready';
}

async function update(force: boolean): Promise<void> {
  const metric = picker.value as Metric;
  const redraw = force || metric !== state.drawn;
  const json = await fetchIfChanged(`graph.json${query(null)}`, state.jsonTag);
  if (json !== null) {
    state.model = JSON.parse(json.text) as GraphModel;
    state.jsonTag = json.etag;
    state.edges = new Map(state.model.edges.map((edge) => [`${edge.src}->${edge.dst}`, edge]));
  }
  const dot = await fetchIfChanged(`graph.dot${query(metric)}`, redraw ? null : state.dotTag);
  const model = state.model;
  if (dot !== null && model !== null) {
    await draw(dot.text, model.nodes.length);
    state.dotTag = dot.etag;
    state.drawn = metric;
    state.renders += 1;
    body.dataset.metric = metric;
    body.dataset.renders = String(state.renders);
    body.dataset.generatedAt = model.generatedAt;
  }
  if (model !== null) {
    const stale = model.edges.filter((edge) => edge.stale).length;
    showStatus(
      `${model.nodes.length} nodes, ${model.edges.length} edges (${stale} stale) · generated ${model.generatedAt} · checked ${new Date().toLocaleTimeString()}`,
      false,
    );
  }
}

// One update at a time: a metric switch waits for a poll in flight, and the other way round.
let queue: Promise<void> = Promise.resolve();

function schedule(force: boolean): Promise<void> {
  queue = queue
    .then(() => update(force))
    .catch((err: unknown) => showStatus(err instanceof Error ? err.message : String(err), true));
  return queue;
}

function poll(): void {
  void schedule(false).then(() => setTimeout(poll, pollMs));
}

picker.addEventListener('change', () => {
  const url = new URL(window.location.href);
  url.searchParams.set('metric', picker.value);
  window.history.replaceState(null, '', url);
  hideTooltip();
  void schedule(true);
});

window.addEventListener('resize', () => {
  renderer.width(container.clientWidth).height(container.clientHeight);
});

poll();
