import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { errorLine } from '../core/errors.ts';
import { chooseEngine, LAYOUT_ENGINES, type LayoutEngine } from './engine.ts';
import { GraphError } from './errors.ts';

export { chooseEngine, DOT_ENGINE_MAX_NODES, type LayoutEngine } from './engine.ts';

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

/** The engine a DOT text asks for (`layout` attribute), else the one for its node count. */
export function engineFor(graphviz: Graphviz, dot: string): LayoutEngine {
  return readDot(graphviz, dot, (graph) => {
    const layout = graph.getGraphAttr('layout');
    return LAYOUT_ENGINES.find((engine) => engine === layout) ?? chooseEngine(graph.nodeCount());
  });
}

/** Lays out DOT and returns the SVG document; Graphviz's complaints become a GraphError. */
export async function renderSvg(dot: string, options: RenderOptions = {}): Promise<string> {
  const graphviz = await loadGraphviz();
  const engine = options.engine ?? engineFor(graphviz, dot);
  let svg: string;
  try {
    svg = graphviz.layout(dot, 'svg', engine);
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
  return svg;
}
