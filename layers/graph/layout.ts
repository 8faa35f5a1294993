import { compareText } from './model.ts';

/**
 * Node positions for the node-link graphs, computed here instead of by a
 * Graphviz engine, so that they are the same on every run and the label
 * placement (picture.ts) knows where everything is. Two arrangements:
 * - ring: every node on one ring, zone after zone (small graphs, where
 *   every pair is drawn and labelled);
 * - columns: each zone one or more columns of nodes, side by side (big
 *   graphs: the gaps between columns leave room to follow each drawn edge).
 * Units are points, y upwards, as Graphviz reads `pos`.
 */

export interface Point {
  x: number;
  y: number;
}

export interface NodeSize {
  width: number;
  height: number;
}

/** Gap between neighbouring boxes on a ring, points. */
const NODE_GAP = 25;

export interface Group<T> {
  zone: string | null;
  nodes: T[];
}

/** Zones in name order, then the nodes without a zone; ids sorted inside each. */
export function zoneGroups<T extends { id: string; zone: string | null }>(nodes: readonly T[]): Group<T>[] {
  const byZone = new Map<string | null, T[]>();
  for (const node of [...nodes].sort((a, b) => compareText(a.id, b.id))) {
    byZone.set(node.zone, [...(byZone.get(node.zone) ?? []), node]);
  }
  return [...byZone]
    .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : compareText(a, b)))
    .map(([zone, members]) => ({ zone, nodes: members }));
}

/** Radius of a ring where neighbouring boxes of `spacing` points do not touch. */
function ringRadius(count: number, spacing: number): number {
  if (count <= 1) return 0;
  return Math.max(spacing / 2, spacing / (2 * Math.sin(Math.PI / count)));
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Where each node's centre is, keyed by id. */
export type Positions = Map<string, Point>;

export interface LayoutNode {
  id: string;
  zone: string | null;
  size: NodeSize;
}

/**
 * One ring of every node, zone after zone, clockwise from the top left
 * (4 nodes make a square, 8 an octagon with a flat top): chords spread
 * evenly, so no two pairs' arcs run along the same path. `spread` (>= 1)
 * widens the ring, leaving the boxes as they are: room for edge labels.
 */
export function ringLayout(nodes: readonly LayoutNode[], spread = 1): Positions {
  const ordered = zoneGroups(nodes).flatMap((group) => group.nodes);
  // Boxes are wider than tall: neighbours apart by the diagonal never touch.
  const widest = Math.max(...ordered.map((n) => Math.hypot(n.size.width, n.size.height)));
  const radius = ringRadius(ordered.length, widest + NODE_GAP) * spread;
  const positions: Positions = new Map();
  ordered.forEach((node, i) => {
    const angle = Math.PI / 2 + Math.PI / ordered.length - (2 * Math.PI * i) / ordered.length;
    positions.set(node.id, { x: round(radius * Math.cos(angle)), y: round(radius * Math.sin(angle)) });
  });
  return positions;
}

/** Gap between columns, points: the room in which edges run between columns. */
export const COLUMN_GAP = 260;
const ROW_GAP = 8;

/** At most this many nodes per column: about as tall as wide for 3 zones. */
export function rowsPerColumn(nodeCount: number): number {
  return Math.max(12, Math.ceil(Math.sqrt(nodeCount) * 4));
}

/** Zones side by side, each as columns of at most rowsPerColumn nodes, top to bottom in name order. */
export function columnLayout(nodes: readonly LayoutNode[]): Positions {
  const rows = rowsPerColumn(nodes.length);
  const rowHeight = Math.max(...nodes.map((n) => n.size.height)) + ROW_GAP;
  const positions: Positions = new Map();
  let left = 0;
  for (const group of zoneGroups(nodes)) {
    for (let start = 0; start < group.nodes.length; start += rows) {
      const column = group.nodes.slice(start, start + rows);
      const width = Math.max(...column.map((n) => n.size.width));
      column.forEach((node, i) => {
        positions.set(node.id, { x: round(left + width / 2), y: round(-i * rowHeight) });
      });
      left += width + COLUMN_GAP;
    }
  }
  return positions;
}
