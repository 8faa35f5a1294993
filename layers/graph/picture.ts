import { type Arc, arcBetween, type Box, edgePos, grow, labelSpots, overlaps, pointAt } from './geometry.ts';
import {
  COLUMN_GAP,
  columnLayout,
  type LayoutNode,
  type NodeSize,
  type Point,
  type Positions,
  ringLayout,
  zoneGroups,
} from './layout.ts';

/**
 * Everything of a node-link picture placed before Graphviz sees it: node
 * centres, each edge's arc, each edge label beside its own arc where no other
 * label, node or zone title is, and the zone boxes. Graphviz (neato -n2)
 * then only draws. Labels that find no free spot are dropped (their figures
 * stay in the edge's tooltip); small pictures first spread their rings
 * until every label fits.
 */

export type Arrangement = 'rings' | 'columns';

export interface PictureEdge {
  src: string;
  dst: string;
  /** Size of the label's text, points; null: no label. */
  label: NodeSize | null;
}

export interface PlacedEdge {
  /** Graphviz `pos` of the edge: its spline and arrowhead. */
  pos: string;
  /** Centre of the label; null when it has none or it did not fit. */
  labelAt: Point | null;
}

export interface PlacedZone {
  /** Graphviz `bb` of the zone's box: llx,lly,urx,ury. */
  bb: string;
  labelAt: Point;
}

export interface Placement {
  positions: Positions;
  edges: PlacedEdge[];
  zones: Map<string, PlacedZone>;
  /** Labels that found no free spot. */
  dropped: number;
}

/** Room kept around node boxes, zone titles and labels, points. */
const NODE_MARGIN = 3;
const LABEL_MARGIN = 1.5;
const ZONE_PADDING = 12;
/** Where arcs are sampled to count the arcs a label would sit on. */
const ARC_SAMPLES = Array.from({ length: 17 }, (_, i) => i / 16);
/** Ring spreads tried, smallest first, until every label fits. */
const SPREADS = [1, 1.25, 1.5, 1.8, 2.2, 2.7, 3.3];

function bowOf(arrangement: Arrangement, a: Point, b: Point): number {
  const length = Math.hypot(b.x - a.x, b.y - a.y);
  if (arrangement === 'rings') return Math.min(40, Math.max(10, length * 0.1));
  // Within one column: into the gap beside it, never across the next column.
  if (Math.abs(b.x - a.x) < 1) return Math.min(length * 0.2, COLUMN_GAP * 0.35);
  return Math.min(60, Math.max(8, length * 0.08));
}

function zoneBoxes(
  nodes: readonly LayoutNode[],
  boxes: Map<string, Box>,
  zoneLabel: (zone: string) => NodeSize,
): Map<string, PlacedZone & { title: Box }> {
  const zones = new Map<string, PlacedZone & { title: Box }>();
  for (const group of zoneGroups(nodes)) {
    if (group.zone === null) continue;
    const members = group.nodes.map((n) => boxes.get(n.id)).filter((b): b is Box => b !== undefined);
    const x0 = Math.min(...members.map((b) => b.x - b.width / 2)) - ZONE_PADDING;
    const x1 = Math.max(...members.map((b) => b.x + b.width / 2)) + ZONE_PADDING;
    const y0 = Math.min(...members.map((b) => b.y - b.height / 2)) - ZONE_PADDING;
    const label = zoneLabel(group.zone);
    const top = Math.max(...members.map((b) => b.y + b.height / 2)) + ZONE_PADDING;
    const title = { x: (x0 + x1) / 2, y: top + label.height / 2, ...label };
    const y1 = top + label.height + 4;
    const r = (v: number) => Math.round(v * 100) / 100;
    zones.set(group.zone, {
      bb: [x0, y0, Math.max(x1, title.x + label.width / 2 + 4), y1].map(r).join(','),
      labelAt: { x: r(title.x), y: r(title.y) },
      title,
    });
  }
  return zones;
}

function placeOnce(
  nodes: readonly LayoutNode[],
  edges: readonly PictureEdge[],
  arrangement: Arrangement,
  zoneLabel: (zone: string) => NodeSize,
  spread: number,
): Placement {
  const positions = arrangement === 'rings' ? ringLayout(nodes, spread) : columnLayout(nodes);
  const boxes = new Map<string, Box>();
  for (const node of nodes) {
    const at = positions.get(node.id);
    if (at !== undefined) boxes.set(node.id, { ...at, ...node.size });
  }
  // On the ring the zones' boxes would overlap: the nodes say their zone instead.
  const zones = arrangement === 'rings' ? new Map() : zoneBoxes(nodes, boxes, zoneLabel);
  const taken: Box[] = [
    ...[...boxes.values()].map((b) => grow(b, NODE_MARGIN)),
    ...[...zones.values()].map((z) => grow(z.title, LABEL_MARGIN)),
  ];
  let dropped = 0;
  const arcs = edges.map((edge): Arc | null => {
    const source = boxes.get(edge.src);
    const target = boxes.get(edge.dst);
    return source === undefined || target === undefined
      ? null
      : arcBetween(source, target, bowOf(arrangement, source, target));
  });
  const samples = arcs.map((arc) => (arc === null ? [] : ARC_SAMPLES.map((t) => pointAt(arc, t))));
  /** How many other arcs run through a box: a label there is harder to read. */
  const crossings = (box: Box, own: number): number =>
    samples.reduce(
      (sum, points, i) =>
        i === own ||
        !points.some((p) => 2 * Math.abs(p.x - box.x) < box.width && 2 * Math.abs(p.y - box.y) < box.height)
          ? sum
          : sum + 1,
      0,
    );
  const placed = edges.map((edge, i): PlacedEdge => {
    const source = boxes.get(edge.src);
    const target = boxes.get(edge.dst);
    const arc = arcs[i];
    if (source === undefined || target === undefined || arc == null) return { pos: '', labelAt: null };
    const pos = edgePos(arc, source, target);
    if (edge.label === null) return { pos, labelAt: null };
    let spot: Box | undefined;
    let least = Number.POSITIVE_INFINITY;
    for (const box of labelSpots(arc, edge.label.width, edge.label.height, 2)) {
      const room = grow(box, LABEL_MARGIN);
      if (taken.some((other) => overlaps(room, other))) continue;
      const crossed = crossings(room, i);
      if (crossed < least) {
        spot = box;
        least = crossed;
      }
      if (crossed === 0) break;
    }
    if (spot === undefined) {
      dropped++;
      return { pos, labelAt: null };
    }
    taken.push(grow(spot, LABEL_MARGIN));
    return { pos, labelAt: { x: Math.round(spot.x * 100) / 100, y: Math.round(spot.y * 100) / 100 } };
  });
  return {
    positions,
    edges: placed,
    zones: new Map([...zones].map(([zone, { bb, labelAt }]) => [zone, { bb, labelAt }])),
    dropped,
  };
}

/**
 * Places a picture. Rings spread until every label fits (or the widest
 * spread is reached: the fewest dropped wins); columns are placed once.
 */
export function placePicture(
  nodes: readonly LayoutNode[],
  edges: readonly PictureEdge[],
  arrangement: Arrangement,
  zoneLabel: (zone: string) => NodeSize,
): Placement {
  const spreads = arrangement === 'rings' && edges.some((e) => e.label !== null) ? SPREADS : [1];
  let best: Placement | undefined;
  for (const spread of spreads) {
    const placement = placeOnce(nodes, edges, arrangement, zoneLabel, spread);
    if (best === undefined || placement.dropped < best.dropped) best = placement;
    if (placement.dropped === 0) break;
  }
  return best as Placement;
}
