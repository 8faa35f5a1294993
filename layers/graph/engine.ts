/** Graphviz layout engines k8s-netmon draws with. */
export type LayoutEngine = 'dot' | 'neato' | 'sfdp' | 'circo';

export const LAYOUT_ENGINES: readonly LayoutEngine[] = ['dot', 'neato', 'sfdp', 'circo'];

/** Above this many nodes the default engine is neato: dot needs minutes for big full meshes. */
export const DOT_ENGINE_MAX_NODES = 15;

export function chooseEngine(nodeCount: number): LayoutEngine {
  return nodeCount <= DOT_ENGINE_MAX_NODES ? 'dot' : 'neato';
}
