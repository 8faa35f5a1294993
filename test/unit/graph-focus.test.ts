import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { describe, expect, it } from 'vitest';
import { toDot } from '../../layers/graph/dot.ts';
import { attentionOf, DEFAULT_EDGE_FOCUS, selectEdges } from '../../layers/graph/focus.ts';
import { columnLayout, ringLayout } from '../../layers/graph/layout.ts';
import type { GraphEdgeInput, GraphModel, GraphNode } from '../../layers/graph/model.ts';
import {
  ago,
  failedEdge,
  MAX_AGE_SECONDS,
  model,
  node,
  okEdge,
  unmeasuredEdge,
} from '../fixtures/graph/models.ts';

const graphviz = await Graphviz.load();

function names(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `node-${String(i + 1).padStart(3, '0')}`);
}

/** A healthy full mesh over three zones (0.3 ms, no loss, 1 Gbit/s everywhere), with `change` applied per edge. */
function healthyMesh(n: number, change: (edge: GraphEdgeInput) => GraphEdgeInput = (e) => e): GraphModel {
  const all = names(n);
  const nodes = all.map((name, i) => node(name, `zone-${i % 3}`, `10.0.${Math.floor(i / 250)}.${i % 250}`));
  const edges = all.flatMap((src) =>
    all.filter((dst) => dst !== src).map((dst) => change({ ...okEdge(src, dst, 0.0003, 1e9), lossRatio: 0 })),
  );
  return model(nodes, edges, `healthy ${n}`);
}

function drawnEdges(dot: string): Array<[string, string]> {
  const graph = graphviz.read(dot);
  try {
    return graph.edges().map(({ tail, head }) => [tail, head] as [string, string]);
  } finally {
    graph.delete();
  }
}

describe('edge focus', () => {
  it('draws every edge of a mesh of up to 10 nodes', () => {
    const mesh = healthyMesh(10);
    expect(mesh.edges.length).toBe(DEFAULT_EDGE_FOCUS.allEdgesUpTo);
    const selection = selectEdges(mesh);
    expect(selection.edges).toHaveLength(90);
    expect(selection.note).toBeNull();
    expect(drawnEdges(toDot(mesh))).toHaveLength(90);
    expect(selectEdges(healthyMesh(11)).edges).toHaveLength(0);
  });

  it('names why an edge needs attention', () => {
    const focus = DEFAULT_EDGE_FOCUS;
    const [a, b] = ['a', 'b'];
    const built = model(
      [node(a), node(b)],
      [
        { ...okEdge(a, b, 0.0003, 1e9), lossRatio: 0.005 },
        { ...okEdge(b, a, 0.0003, 1e9), measuredAt: ago(MAX_AGE_SECONDS + 1) },
      ],
    );
    const [ab, ba] = built.edges;
    if (ab === undefined || ba === undefined) throw new Error('two edges');
    expect(attentionOf(ab, focus)).toBeNull();
    expect(attentionOf(ba, focus)).toBe('stale');
    expect(attentionOf({ ...ab, latency: ab.latency && { ...ab.latency, median: 0.005 } }, focus)).toBe(
      'slow',
    );
    expect(attentionOf({ ...ab, lossRatio: 0.01 }, focus)).toBe('lossy');
    expect(attentionOf({ ...ab, connectivity: 0 }, focus)).toBe('failed');
    expect(attentionOf({ ...ab, connectivity: null }, focus)).toBe('unmeasured');
  });

  it('above the limit draws only the failed, slow and lossy directions, and says so in the title', () => {
    const mesh = healthyMesh(40, (edge) => {
      if (edge.src === 'node-001' && edge.dst === 'node-002')
        return failedEdge(edge.src, edge.dst, 'timeout');
      if (edge.src === 'node-003' && edge.dst === 'node-004') return { ...edge, measuredAt: ago(7200) };
      if (edge.src === 'node-005' && edge.dst === 'node-006') return okEdge(edge.src, edge.dst, 0.03, 1e9);
      if (edge.src === 'node-007' && edge.dst === 'node-008') return { ...edge, lossRatio: 0.02 };
      if (edge.src === 'node-009' && edge.dst === 'node-010') return unmeasuredEdge(edge.src, edge.dst);
      return edge;
    });
    expect(mesh.edges).toHaveLength(1560);
    const dot = toDot(mesh);
    const drawn = drawnEdges(dot).map(([t, h]) => `${t}>${h}`);
    expect(drawn.sort()).toEqual(['node-001>node-002', 'node-005>node-006', 'node-007>node-008']);
    // selectEdges (the API's choice of edges to relabel) still keeps both directions of each pair.
    expect(selectEdges(mesh).edges).toHaveLength(10);
    // Every node is still drawn, pinned in its zone's column.
    expect(dot.match(/pos="[^"]+!"/g)).toHaveLength(40);
    expect(dot).toContain('3 of 1560 edges drawn: failed, slow (&gt;= 5.000 ms) or lossy');
    expect(dot).toContain('2 stale or unmeasured not drawn');
    expect(dot).toContain('every pair: matrix-latency/-throughput/-loss.svg, graph.json, graph.graphml');
  });

  it('says that a healthy big mesh has nothing to draw', () => {
    const selection = selectEdges(healthyMesh(30));
    expect(selection.edges).toEqual([]);
    expect(selection.omitted).toBe(870);
    expect(selection.note).toMatch(/^0 of 870 edges drawn: every pair reached, fresh/);
  });

  it('keeps at most maxEdges, worst first: failed before slow, the slowest first', () => {
    const mesh = healthyMesh(30, (edge) => {
      if (edge.src === 'node-030') return failedEdge(edge.src, edge.dst, 'unreachable');
      const slow = 0.01 + Number(edge.src.slice(5)) / 1000;
      return { ...okEdge(edge.src, edge.dst, slow, 1e9), lossRatio: 0 };
    });
    const selection = selectEdges(mesh, { ...DEFAULT_EDGE_FOCUS, maxEdges: 100 });
    expect(selection.edges.length).toBeLessThanOrEqual(100);
    expect(selection.edges.length).toBeGreaterThan(90);
    const failedPairs = selection.edges.filter((e) => e.src === 'node-030' || e.dst === 'node-030');
    expect(failedPairs).toHaveLength(58); // all 29 failed pairs, both directions
    const others = selection.edges.filter((e) => e.src !== 'node-030' && e.dst !== 'node-030');
    // The slowest sources (highest numbers) come first.
    expect(Math.min(...others.map((e) => Math.max(Number(e.src.slice(5)), Number(e.dst.slice(5)))))).toBe(29);
    expect(selection.note).toContain('worst first, at most 100');
    expect(selectEdges(mesh, { ...DEFAULT_EDGE_FOCUS, maxEdges: 100 })).toEqual(selection);
  });
});

function boxes(nodes: readonly GraphNode[]) {
  const laid = nodes.map((n) => ({
    id: n.name,
    zone: n.labels['topology.kubernetes.io/zone'] ?? null,
    size: { width: 20 + n.name.length * 6, height: 30 },
  }));
  const positions = laid.length <= 10 ? ringLayout(laid) : columnLayout(laid);
  return laid.map((n) => {
    const at = positions.get(n.id);
    if (at === undefined) throw new Error(`no position for ${n.id}`);
    return {
      name: n.id,
      zone: n.zone,
      x0: at.x - n.size.width / 2,
      x1: at.x + n.size.width / 2,
      y0: at.y - n.size.height / 2,
      y1: at.y + n.size.height / 2,
    };
  });
}

type Box = ReturnType<typeof boxes>[number];

function overlap(a: Pick<Box, 'x0' | 'x1' | 'y0' | 'y1'>, b: Pick<Box, 'x0' | 'x1' | 'y0' | 'y1'>): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

function zoneBounds(all: readonly Box[], zone: string): Pick<Box, 'x0' | 'x1' | 'y0' | 'y1'> {
  const members = all.filter((b) => b.zone === zone);
  return {
    x0: Math.min(...members.map((b) => b.x0)),
    x1: Math.max(...members.map((b) => b.x1)),
    y0: Math.min(...members.map((b) => b.y0)),
    y1: Math.max(...members.map((b) => b.y1)),
  };
}

describe('node layout', () => {
  it.each([3, 7, 10])('places %i nodes on one ring without overlapping boxes', (n) => {
    const all = boxes(healthyMesh(n).nodes);
    for (const [i, a] of all.entries()) {
      for (const b of all.slice(i + 1)) expect(overlap(a, b), `${a.name} / ${b.name}`).toBe(false);
    }
  });

  it.each([20, 100])('places %i nodes in zone columns, boxes and zones apart', (n) => {
    const all = boxes(healthyMesh(n).nodes);
    for (const [i, a] of all.entries()) {
      for (const b of all.slice(i + 1)) expect(overlap(a, b), `${a.name} / ${b.name}`).toBe(false);
    }
    const zones = [...new Set(all.map((b) => b.zone ?? ''))];
    for (const [i, a] of zones.entries()) {
      for (const b of zones.slice(i + 1)) {
        expect(overlap(zoneBounds(all, a), zoneBounds(all, b)), `${a} / ${b}`).toBe(false);
      }
    }
  });

  it('sizes the ring for very long names and is deterministic', () => {
    const long = (c: string) => c.repeat(120);
    const nodes = [node(long('a'), 'z1'), node(long('b'), 'z1'), node('short', 'z2'), node(long('c'))];
    const all = boxes(nodes);
    for (const [i, a] of all.entries()) {
      for (const b of all.slice(i + 1)) expect(overlap(a, b)).toBe(false);
    }
    expect(boxes([...nodes].reverse()).sort((a, b) => (a.name < b.name ? -1 : 1))).toEqual(
      all.sort((a, b) => (a.name < b.name ? -1 : 1)),
    );
  });
});
