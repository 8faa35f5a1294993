import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { errorLine } from '../core/errors.ts';
import { chooseEngine, LAYOUT_ENGINES, type LayoutEngine, PINNED_ATTRIBUTE } from './engine.ts';
import { GraphError } from './errors.ts';

export { chooseEngine, type LayoutEngine } from './engine.ts';

export interface RenderOptions {
  /**
   * Default: the DOT's own `layout` attribute (toDot sets it for neato),
   * else chooseEngine(number of nodes). Graphviz itself lets a `layout`
   * attribute win over the engine asked for.
   */
  engine?: LayoutEngine;
}

// Compiling the WebAssembly module takes a while: once per process.
let loading: Promise<Graphviz> | undefined;

function loadGraphviz(): Promise<Graphviz> {
  loading ??= Graphviz.load().catch((err: unknown) => {
    loading = undefined; // let the next call try again
    throw new GraphError(`cannot load Graphviz (WebAssembly): ${errorLine(err)}`, { cause: err });
  });
  return loading;
}

/** The version of the Graphviz library inside the WebAssembly module, e.g. "16.1.0". */
export async function graphvizVersion(): Promise<string> {
  return (await loadGraphviz()).version();
}

/** A Graphviz message ("syntax error in line 3 near '}'") says more than read()'s "Invalid DOT source". */
function syntaxDetail(graphviz: Graphviz, dot: string): string | null {
  try {
    graphviz.nop(dot);
    return null;
  } catch (err) {
    return errorLine(err);
  }
}

function readDot<T>(graphviz: Graphviz, dot: string, use: (graph: ReturnType<Graphviz['read']>) => T): T {
  let graph: ReturnType<Graphviz['read']>;
  try {
    graph = graphviz.read(dot);
  } catch (err) {
    throw new GraphError(`invalid DOT: ${syntaxDetail(graphviz, dot) ?? errorLine(err)}`, { cause: err });
  }
  try {
    return use(graph);
  } finally {
    graph.delete();
  }
}

export function countDotNodes(graphviz: Graphviz, dot: string): number {
  return readDot(graphviz, dot, (graph) => graph.nodeCount());
}

/** The engine a DOT text asks for (`layout` attribute), else the one for its node count; and whether it is pinned. */
export function engineFor(graphviz: Graphviz, dot: string): { engine: LayoutEngine; pinned: boolean } {
  return readDot(graphviz, dot, (graph) => {
    const layout = graph.getGraphAttr('layout');
    return {
      engine: LAYOUT_ENGINES.find((engine) => engine === layout) ?? chooseEngine(graph.nodeCount()),
      pinned: graph.getGraphAttr(PINNED_ATTRIBUTE) === 'true',
    };
  });
}

/**
 * Graphviz writes the size in points (`width="812pt" height="640pt"`): a
 * picture wider than its container then scrolls. 100 % and the viewBox make
 * it scale to the Grafana panel, the page or the browser tab instead.
 */
export function fitToContainer(svg: string): string {
  return svg
    .replace(
      /<svg width="([\d.]+)pt" height="([\d.]+)pt"/,
      (_all, width: string, height: string) =>
        `<svg width="100%" height="100%" style="max-width: ${width}pt; max-height: ${height}pt"`,
    )
    .replace(/(<svg [^>]*>)/, `$1\n<style>${LABEL_HALO}</style>`);
}

/** A white outline under edge labels: a line crossing a label then does not hide its figures. */
const LABEL_HALO =
  'g.edge text { paint-order: stroke; stroke: #ffffff; stroke-width: 3px; stroke-linejoin: round; }';

/** Lays out DOT and returns the SVG document; Graphviz's complaints become a GraphError. */
export async function renderSvg(dot: string, options: RenderOptions = {}): Promise<string> {
  const graphviz = await loadGraphviz();
  const asked = engineFor(graphviz, dot);
  const engine = options.engine ?? asked.engine;
  let svg: string;
  try {
    // -n2: positions (points) and edge splines as the DOT gives them.
    svg = graphviz.layout(dot, 'svg', engine, engine === 'neato' && asked.pinned ? { nop: 2 } : undefined);
  } catch (err) {
    // A WebAssembly trap (out of memory, abort) leaves the module unusable: load a fresh one next time.
    if (err instanceof Error && err.name === 'RuntimeError') {
      loading = undefined;
      Graphviz.unload();
    }
    throw new GraphError(`Graphviz ${engine} could not lay out the graph: ${errorLine(err)}`, { cause: err });
  }
  // Graphviz answers an empty or graph-less input with an empty string, not an error.
  if (!svg.includes('<svg')) throw new GraphError(`Graphviz ${engine} produced no SVG (is the DOT empty?)`);
  return fitToContainer(svg);
}
