/** Graphviz layout engines k8s-netmon draws with. */
export type LayoutEngine = 'dot' | 'neato' | 'sfdp' | 'circo';

export const LAYOUT_ENGINES: readonly LayoutEngine[] = ['dot', 'neato', 'sfdp', 'circo'];

/**
 * A graph attribute of the DOT toDot writes with every node, zone box, edge
 * and label already placed (picture.ts): renderSvg then lets neato draw it
 * as it is (-n2) instead of routing edges and placing labels itself, which
 * puts the labels of A->B and B->A on top of each other (docs/adr/0006).
 */
export const PINNED_ATTRIBUTE = 'netmon_pinned';

/**
 * Every size is drawn pinned (neato with positions computed by picture.ts).
 * dot, sfdp and circo stay available for callers that ask: they place nodes
 * and labels themselves, and may overlap them.
 */
export function chooseEngine(_nodeCount: number): LayoutEngine {
  return 'neato';
}
