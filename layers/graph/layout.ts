import { compareText, type GraphNode, zoneOf } from './model.ts';
import { textEms } from './text.ts';

/**
 * Node positions for the node-link graph, computed here instead of by a
 * Graphviz engine: each zone is a ring of its nodes, and the zones sit on a
 * ring of their own. Every full mesh then looks alike (no force layout that
 * lumps 100 nodes into a hairball or runs for minutes), zones never overlap,
 * and the positions are the same on every run. Graphviz (neato with pinned
 * nodes) only routes the edges. Units are inches, as neato reads `pos`.
 */

export interface Point {
  x: number;
  y: number;
}

export interface NodeSize {
  width: number;
  height: number;
}

/** Node box estimate for the DOT node style (Helvetica 11 pt, rounded box): enough to keep boxes apart. */
export function nodeSize(label: string): NodeSize {
  const lines = label.split('\n');
  const widest = Math.max(...lines.map(textEms));
  return { width: (widest * 11) / 72 + 0.35, height: lines.length * 0.2 + 0.25 };
}

/** Gap between neighbouring boxes on a ring, and between zone rings, inches. */
const NODE_GAP = 0.35;
const ZONE_GAP = 1.2;

interface Group {
  zone: string | null;
  nodes: GraphNode[];
}

/** Zones in name order, then the nodes without a zone; names sorted inside each. */
export function zoneGroups(nodes: readonly GraphNode[]): Group[] {
  const byZone = new Map<string | null, GraphNode[]>();
  for (const node of [...nodes].sort((a, b) => compareText(a.name, b.name))) {
    const zone = zoneOf(node);
    byZone.set(zone, [...(byZone.get(zone) ?? []), node]);
  }
  return [...byZone]
    .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : compareText(a, b)))
    .map(([zone, members]) => ({ zone, nodes: members }));
}

/** Radius of a ring where neighbouring boxes of `spacing` inches do not touch. */
function ringRadius(count: number, spacing: number): number {
  if (count <= 1) return 0;
  return Math.max(spacing / 2, spacing / (2 * Math.sin(Math.PI / count)));
}

/**
 * The smallest radius of the ring of zones at which no two zones' bounding
 * squares (the cluster boxes Graphviz draws) meet: squares are apart when
 * their centres differ by enough along x or along y.
 */
function zoneRingRadius(outer: readonly number[], directions: readonly Point[]): number {
  let radius = 0;
  for (let i = 0; i < outer.length; i++) {
    for (let j = i + 1; j < outer.length; j++) {
      const a = directions[i];
      const b = directions[j];
      if (a === undefined || b === undefined) continue;
      const apart = Math.max(Math.abs(a.x - b.x), Math.abs(a.y - b.y));
      radius = Math.max(radius, ((outer[i] ?? 0) + (outer[j] ?? 0) + ZONE_GAP) / apart);
    }
  }
  return radius;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * Positions of every node, keyed by name. `labelOf` gives the text of each
 * node's box (to size the rings).
 */
export function ringLayout(
  nodes: readonly GraphNode[],
  labelOf: (node: GraphNode) => string,
): Map<string, Point> {
  const groups = zoneGroups(nodes);
  const sizes = new Map(nodes.map((node) => [node.name, nodeSize(labelOf(node))]));
  const rings = groups.map((group) => {
    const widest = Math.max(...group.nodes.map((n) => sizes.get(n.name)?.width ?? 1));
    const radius = ringRadius(group.nodes.length, widest + NODE_GAP);
    return { group, radius, outer: radius + widest / 2 };
  });
  // The first zone on the left, the others clockwise, on a ring of their own.
  const directions = rings.map((_, g) => {
    const angle = Math.PI - (2 * Math.PI * g) / rings.length;
    return { x: Math.cos(angle), y: Math.sin(angle) };
  });
  const centreRadius = zoneRingRadius(
    rings.map((r) => r.outer),
    directions,
  );
  const positions = new Map<string, Point>();
  rings.forEach((ring, g) => {
    const cx = centreRadius * (directions[g]?.x ?? 0);
    const cy = centreRadius * (directions[g]?.y ?? 0);
    ring.group.nodes.forEach((node, i) => {
      const angle = Math.PI / 2 - (2 * Math.PI * i) / ring.group.nodes.length;
      positions.set(node.name, {
        x: round(cx + ring.radius * Math.cos(angle)),
        y: round(cy + ring.radius * Math.sin(angle)),
      });
    });
  });
  return positions;
}
