/** Graphviz layout engines k8s-netmon draws with. */
export type LayoutEngine = 'dot' | 'neato' | 'sfdp' | 'circo';

export const LAYOUT_ENGINES: readonly LayoutEngine[] = ['dot', 'neato', 'sfdp', 'circo'];

/**
 * Up to this many nodes dot draws the graph (labelled edges, clusters side by
 * side); above, neato routes the edges between nodes pinned on rings of
 * zones (layout.ts). dot spreads a full mesh of 8 nodes over a strip many
 * times wider than high, and needs minutes for 100 (docs/adr/0004).
 */
export const DOT_ENGINE_MAX_NODES = 6;

export function chooseEngine(nodeCount: number): LayoutEngine {
  return nodeCount <= DOT_ENGINE_MAX_NODES ? 'dot' : 'neato';
}
