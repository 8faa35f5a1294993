/**
 * Graph views at 10 to 100 nodes: render time and SVG size of the node-link
 * graph (toDot + Graphviz) and of the matrix view, with the targets of
 * docs/adr/0004-graph-at-scale.md. The meshes look like a real cluster: three
 * zones, fast pairs inside a zone, slower ones across, a few failed, stale,
 * slow and lossy pairs.
 */
import { toDot } from '../../layers/graph/dot.ts';
import {
  DEFAULT_EDGE_FOCUS,
  pictureSelection,
  SMALL_GRAPH_NODES,
  selectEdges,
} from '../../layers/graph/focus.ts';
import { renderZones } from '../../layers/graph/index.ts';
import { renderMatrixSvg } from '../../layers/graph/matrix.ts';
import {
  buildGraphModel,
  type GraphEdgeInput,
  type GraphModel,
  type GraphNode,
  ZONE_LABEL,
} from '../../layers/graph/model.ts';
import { renderSvg } from '../../layers/graph/svg.ts';
import { line, median } from './report.ts';

const NOW = new Date('2026-01-01T12:00:00.000Z');
const MAX_AGE_SECONDS = 600;

/** Deterministic pseudo-random numbers (mulberry32): the same mesh every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function at(secondsAgo: number): string {
  return new Date(NOW.getTime() - secondsAgo * 1000).toISOString();
}

function edge(src: GraphNode, dst: GraphNode, rand: () => number, slowNode: string): GraphEdgeInput {
  const sameZone = src.labels[ZONE_LABEL] === dst.labels[ZONE_LABEL];
  const roll = rand();
  if (roll < 0.005) {
    return {
      src: src.name,
      dst: dst.name,
      connectivity: 0,
      reason: 'timeout',
      latency: null,
      lossRatio: null,
      throughput: null,
      tests: ['tcp_upload'],
      measuredAt: at(60),
    };
  }
  const slow = src.name === slowNode || dst.name === slowNode ? 8 : 1;
  const median = slow * (sameZone ? 0.0002 + rand() * 0.0003 : 0.0008 + rand() * 0.002);
  const bits = (sameZone ? 9e9 : 2e9 + rand() * 3e9) / slow;
  return {
    src: src.name,
    dst: dst.name,
    connectivity: 1,
    reason: null,
    latency: { min: median * 0.8, mean: median * 1.1, median, p99: median * 3, max: median * 5 },
    lossRatio: rand() < 0.005 ? 0.03 : 0,
    throughput: { mean: bits * 0.97, median: bits, p99: bits * 1.02 },
    tests: ['ping', 'tcp_upload'],
    measuredAt: at(roll < 0.015 ? MAX_AGE_SECONDS + 600 : 30 + rand() * 200),
  };
}

/** A full mesh of n nodes over three zones: n * (n - 1) measured edges. */
export function clusterMesh(n: number, seed = n): GraphModel {
  const rand = random(seed);
  const nodes: GraphNode[] = Array.from({ length: n }, (_, i) => ({
    name: `ip-10-0-${Math.floor(i / 250)}-${i % 250}.eu-west-1.compute.internal`,
    address: `10.0.${Math.floor(i / 250)}.${i % 250}`,
    labels: { [ZONE_LABEL]: `eu-west-1${'abc'[i % 3]}` },
  }));
  const slowNode = nodes[Math.floor(n / 2)]?.name ?? '';
  const edges = nodes.flatMap((src) =>
    nodes.filter((dst) => dst !== src).map((dst) => edge(src, dst, rand, slowNode)),
  );
  return buildGraphModel({
    title: `bench mesh of ${n}`,
    schedule: 'every-10-min',
    generatedAt: NOW,
    maxAgeSeconds: MAX_AGE_SECONDS,
    nodes,
    edges,
  });
}

interface Timed {
  ms: number;
  bytes: number;
}

async function timed(runs: number, work: () => Promise<string> | string): Promise<Timed> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const out = await work();
    times.push(performance.now() - start);
    bytes = Buffer.byteLength(out);
  }
  return { ms: median(times), bytes };
}

function describe(result: Timed): string {
  const size =
    result.bytes >= 1e6 ? `${(result.bytes / 1e6).toFixed(2)} MB` : `${(result.bytes / 1e3).toFixed(0)} kB`;
  return `${(result.ms / 1000).toFixed(2)} s, SVG ${size}`;
}

const graphSvg = (model: GraphModel) => async () => renderSvg(toDot(model));

export default async function graph(): Promise<void> {
  const start = performance.now();
  await renderSvg('digraph { a -> b }');
  line('graphviz WebAssembly load (once per process)', `${(performance.now() - start).toFixed(0)} ms`);

  const targets: Array<{ label: string; limitMs: number; ms: number }> = [];
  for (const n of [10, 20, 50, 100]) {
    const model = clusterMesh(n);
    const drawn = (n <= SMALL_GRAPH_NODES ? selectEdges(model) : pictureSelection(model)).edges.length;
    const runs = n >= 50 ? 3 : 5;
    const g = await timed(runs, graphSvg(model));
    line(`graph ${n} nodes (${model.edges.length} edges, ${drawn} drawn)`, describe(g));
    const z = await timed(runs, async () => (await renderZones(model))['zones-svg']);
    line(`zone view ${n} nodes (graph-zones.*)`, describe(z));
    const m = await timed(runs, () => renderMatrixSvg(model, 'latency'));
    line(`matrix ${n} nodes (${n * n} cells)`, describe(m));
    if (n === 20) targets.push({ label: 'graph 20 nodes < 5 s', limitMs: 5000, ms: g.ms });
    if (n === 100) {
      targets.push({ label: 'graph 100 nodes < 30 s', limitMs: 30_000, ms: g.ms });
      targets.push({ label: 'matrix 100 nodes < 2 s', limitMs: 2000, ms: m.ms });
    }
  }

  // What the focus saves, and the worst case it still bounds.
  const full = clusterMesh(100);
  const everyEdge = await timed(1, async () =>
    renderSvg(toDot(full, { focus: { ...DEFAULT_EDGE_FOCUS, allEdgesUpTo: Number.POSITIVE_INFINITY } })),
  );
  line('graph 100 nodes, all 9900 edges drawn (no focus)', describe(everyEdge));
  const down: GraphModel = {
    ...full,
    edges: full.edges.map((e) => ({ ...e, connectivity: 0, reason: 'timeout', latency: null, stale: false })),
  };
  const worst = await timed(1, graphSvg(down));
  line(
    `graph 100 nodes, every pair failed (${pictureSelection(down).edges.length} drawn, every node marked)`,
    describe(worst),
  );
  targets.push({ label: 'graph 100 nodes, every pair failed < 30 s', limitMs: 30_000, ms: worst.ms });

  for (const t of targets) {
    line(`target: ${t.label}`, `${t.ms <= t.limitMs ? 'met' : 'MISSED'} (${(t.ms / 1000).toFixed(2)} s)`);
  }
}
