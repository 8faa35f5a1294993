import type { Point } from './layout.ts';

/**
 * The plane geometry of the node-link pictures: boxes, the arcs edges are
 * drawn as (quadratic Béziers, bowed to the left of their direction so that
 * A->B and B->A never share a line), and where an arc leaves a box. Points,
 * y upwards, as Graphviz reads `pos`.
 */

/** A box by its centre and size. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function overlaps(a: Box, b: Box): boolean {
  return 2 * Math.abs(a.x - b.x) < a.width + b.width && 2 * Math.abs(a.y - b.y) < a.height + b.height;
}

export function grow(box: Box, margin: number): Box {
  return { ...box, width: box.width + 2 * margin, height: box.height + 2 * margin };
}

function inside(box: Box, p: Point): boolean {
  return 2 * Math.abs(p.x - box.x) <= box.width && 2 * Math.abs(p.y - box.y) <= box.height;
}

export interface Arc {
  from: Point;
  control: Point;
  to: Point;
}

/** The arc from a to b whose middle lies `bow` to the left of the chord (its control point 2 x bow). */
export function arcBetween(a: Point, b: Point, bow: number): Arc {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length = Math.hypot(dx, dy) || 1;
  const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
  return {
    from: a,
    to: b,
    control: { x: mid.x - (2 * bow * dy) / length, y: mid.y + (2 * bow * dx) / length },
  };
}

/** The quadratic's blossom f(u, v): f(t, t) is the point at t, f(a, b) the control point of the piece [a, b]. */
function blossom(arc: Arc, u: number, v: number): Point {
  const w0 = (1 - u) * (1 - v);
  const w1 = (1 - u) * v + u * (1 - v);
  const w2 = u * v;
  return {
    x: w0 * arc.from.x + w1 * arc.control.x + w2 * arc.to.x,
    y: w0 * arc.from.y + w1 * arc.control.y + w2 * arc.to.y,
  };
}

export function pointAt(arc: Arc, t: number): Point {
  return blossom(arc, t, t);
}

/** The unit vector from the chord's middle towards the bulge (the outer side of the arc). */
export function bulge(arc: Arc): Point {
  const mid = { x: (arc.from.x + arc.to.x) / 2, y: (arc.from.y + arc.to.y) / 2 };
  const dx = arc.control.x - mid.x;
  const dy = arc.control.y - mid.y;
  const length = Math.hypot(dx, dy);
  if (length > 1e-9) return { x: dx / length, y: dy / length };
  const cx = arc.to.x - arc.from.x;
  const cy = arc.to.y - arc.from.y;
  const chord = Math.hypot(cx, cy) || 1;
  return { x: -cy / chord, y: cx / chord };
}

/** The t in [lo, hi] where the arc crosses the boundary of `box` (inside at one end, outside at the other). */
function crossing(arc: Arc, box: Box, lo: number, hi: number): number {
  const startsInside = inside(box, pointAt(arc, lo));
  let a = lo;
  let b = hi;
  for (let i = 0; i < 30; i++) {
    const m = (a + b) / 2;
    if (inside(box, pointAt(arc, m)) === startsInside) a = m;
    else b = m;
  }
  return (a + b) / 2;
}

/** The t before `end` at which the arc is `distance` from the point at `end`. */
function backOff(arc: Arc, end: number, distance: number): number {
  const tip = pointAt(arc, end);
  let a = 0;
  let b = end;
  for (let i = 0; i < 30; i++) {
    const m = (a + b) / 2;
    const p = pointAt(arc, m);
    if (Math.hypot(p.x - tip.x, p.y - tip.y) > distance) a = m;
    else b = m;
  }
  return (a + b) / 2;
}

function fmt(p: Point): string {
  return `${Math.round(p.x * 100) / 100},${Math.round(p.y * 100) / 100}`;
}

/** Arrowhead length of `arrowsize` 0.6 (Graphviz: 10 points x arrowsize). */
export const ARROW_LENGTH = 6;

/**
 * The edge's `pos` for Graphviz (`e,tip p0 p1 p2 p3`): the arc from where it
 * leaves the source box to an arrowhead whose tip touches the target box.
 */
export function edgePos(arc: Arc, source: Box, target: Box): string {
  const start = inside(source, arc.from) ? crossing(arc, source, 0, 0.5) : 0;
  const end = inside(target, arc.to) ? crossing(arc, target, 0.5, 1) : 1;
  const tip = pointAt(arc, end);
  const stop = backOff(arc, end, ARROW_LENGTH);
  const p0 = pointAt(arc, start);
  const q = blossom(arc, start, stop);
  const p3 = pointAt(arc, stop);
  // The quadratic piece as a cubic: control points 2/3 of the way to the quadratic's.
  const p1 = { x: p0.x + ((q.x - p0.x) * 2) / 3, y: p0.y + ((q.y - p0.y) * 2) / 3 };
  const p2 = { x: p3.x + ((q.x - p3.x) * 2) / 3, y: p3.y + ((q.y - p3.y) * 2) / 3 };
  return `e,${fmt(tip)} ${[p0, p1, p2, p3].map(fmt).join(' ')}`;
}

/** Where along an arc a label is tried, nearest the middle first. */
const LABEL_STEPS = [0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73, 0.2, 0.8];

/**
 * Boxes of `width` x `height` beside the arc on its outer side, touching the
 * line (so the label reads as the line's own and never hides it), in the
 * order to try them.
 */
export function labelSpots(arc: Arc, width: number, height: number, gap: number): Box[] {
  const out = bulge(arc);
  const reach = (Math.abs(out.x) * width) / 2 + (Math.abs(out.y) * height) / 2 + gap;
  return [0, 8].flatMap((extra) =>
    LABEL_STEPS.map((t) => {
      const p = pointAt(arc, t);
      return { x: p.x + out.x * (reach + extra), y: p.y + out.y * (reach + extra), width, height };
    }),
  );
}
