import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { describe, expect, it } from 'vitest';
import { formatBitsPerSecond } from '../../layers/core/format.ts';
import { EDGE_LABEL_LIMIT, penWidth, quote, toDot } from '../../layers/graph/dot.ts';
import type { GraphModel } from '../../layers/graph/model.ts';
import { EDGE_COLORS, LATENCY_SCALE, latencyColor } from '../../layers/graph/palette.ts';
import { AWKWARD_NAMES, awkwardModel, meshModel, sampleModel } from '../fixtures/graph/models.ts';

/** The DOT is read back with Graphviz's own parser (cgraph), not with a regular expression. */
const graphviz = await Graphviz.load();

interface ParsedDot {
  nodes: string[];
  edges: Array<{ tail: string; head: string }>;
  clusters: Record<string, { nodes: string[]; label: string }>;
  graphAttr: (attr: string) => string;
  edgeAttr: (tail: string, head: string, attr: string) => string;
}

function parseDot(dot: string): ParsedDot {
  const graph = graphviz.read(dot);
  const clusters: ParsedDot['clusters'] = {};
  for (const name of graph.subgraphNames()) {
    const sub = graph.getSubgraph(name);
    if (sub === null) continue;
    clusters[name] = { nodes: sub.nodeNames(), label: sub.getAttr('label') };
    sub.delete();
  }
  const attrs = new Map<string, string>();
  const edges = graph.edges().map(({ tail, head }) => ({ tail, head }));
  for (const { tail, head } of edges) {
    for (const attr of [
      'label',
      'color',
      'style',
      'penwidth',
      'tooltip',
      'class',
      'len',
      'fontcolor',
      'lp',
      'pos',
    ]) {
      attrs.set(`${tail}\0${head}\0${attr}`, graph.getEdgeAttr(tail, head, '', attr));
    }
  }
  const graphAttrs = new Map(['label', 'splines', 'layout'].map((a) => [a, graph.getGraphAttr(a)]));
  const parsed: ParsedDot = {
    nodes: graph.nodeNames(),
    edges,
    clusters,
    graphAttr: (attr) => graphAttrs.get(attr) ?? '',
    edgeAttr: (tail, head, attr) => attrs.get(`${tail}\0${head}\0${attr}`) ?? '',
  };
  graph.delete();
  return parsed;
}

describe('DOT quoting', () => {
  it('quotes every ID and escapes backslashes, quotes and newlines one-to-one', () => {
    expect(quote('graph')).toBe('"graph"');
    expect(quote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quote('line1\nline2')).toBe('"line1\\nline2"');
    expect(quote('x\\')).toBe('"x\\\\"');
    expect(quote('ünï 😀')).toBe('"ünï 😀"');
    // A literal backslash-n and a newline stay different nodes.
    expect(quote('a\\nb')).not.toBe(quote('a\nb'));
  });

  it('keeps awkward names as distinct nodes with every edge (Graphviz parses the DOT back)', () => {
    const model = awkwardModel();
    const parsed = parseDot(toDot(model));
    expect(parsed.nodes).toHaveLength(AWKWARD_NAMES.length);
    expect(parsed.edges).toHaveLength(model.edges.length);
    // Keywords and operators stay plain node names.
    for (const name of ['graph', 'node', 'a->b', '-1', 'ünï 😀']) expect(parsed.nodes).toContain(name);
  });
});

describe('DOT visual encoding', () => {
  const model = sampleModel();
  const parsed = parseDot(toDot(model));
  const attr = (src: string, dst: string, name: string) => parsed.edgeAttr(src, dst, name);
  /** The fixture's mean throughput of src -> dst: the headline figure the graph shows. */
  const meanThroughput = (src: string, dst: string): number | null =>
    model.edges.find((e) => e.src === src && e.dst === dst)?.throughput?.mean ?? null;

  it('draws a failed pair dashed red with its reason as the label', () => {
    expect(attr('node-a', 'node-c', 'style')).toBe('dashed');
    expect(attr('node-a', 'node-c', 'color')).toBe(EDGE_COLORS.failed);
    expect(attr('node-a', 'node-c', 'label')).toBe('server-missing');
    expect(attr('node-a', 'node-c', 'class')).toContain('netmon-failed');
    expect(attr('node-a', 'node-c', 'tooltip')).toContain('connectivity: 0 (server-missing)');
  });

  it('draws stale and never-measured pairs grey and dotted', () => {
    for (const [src, dst] of [
      ['node-c', 'node-a'],
      ['node-b', 'node-c'],
    ] as const) {
      expect(attr(src, dst, 'style')).toBe('dotted');
      expect(attr(src, dst, 'color')).toBe(EDGE_COLORS.stale);
    }
    expect(attr('node-c', 'node-a', 'label')).toMatch(/stale 70 min$/);
    expect(attr('node-c', 'node-a', 'class')).toContain('netmon-stale');
    expect(attr('node-b', 'node-c', 'label')).toBe('not measured');
    expect(attr('node-b', 'node-c', 'class')).toContain('netmon-unmeasured');
  });

  it('shows each direction with its own colour, width and label (asymmetry)', () => {
    expect(attr('node-a', 'node-b', 'color')).toBe(LATENCY_SCALE[0]?.color);
    expect(attr('node-b', 'node-a', 'color')).toBe(LATENCY_SCALE[3]?.color);
    expect(Number(attr('node-a', 'node-b', 'penwidth'))).toBeCloseTo(
      penWidth(meanThroughput('node-a', 'node-b')),
      5,
    );
    expect(Number(attr('node-b', 'node-a', 'penwidth'))).toBeCloseTo(
      penWidth(meanThroughput('node-b', 'node-a')),
      5,
    );
    expect(Number(attr('node-a', 'node-b', 'penwidth'))).toBeGreaterThan(
      Number(attr('node-b', 'node-a', 'penwidth')),
    );
    expect(attr('node-a', 'node-b', 'label')).toBe(
      `0.400 ms\\n${formatBitsPerSecond(meanThroughput('node-a', 'node-b'))}`,
    );
    expect(attr('node-a', 'node-b', 'label')).toBe('0.400 ms\\n921.20 Mbit/s');
    expect(attr('node-b', 'node-a', 'label')).toBe('30.000 ms\\n1.96 Mbit/s');
    expect(attr('node-a', 'node-b', 'style')).toBe('solid');
  });

  it('puts every figure in the tooltip', () => {
    const tooltip = attr('node-a', 'node-b', 'tooltip');
    for (const text of [
      'node-a -> node-b',
      'connectivity: 1',
      '0.320 ms / 0.440 ms / 0.400 ms / 0.800 ms / 1.200 ms',
      'loss: 1.0 %',
      '921.20 Mbit/s / 940.00 Mbit/s / 987.00 Mbit/s',
      'tests: ping, tcp_upload',
      'measured: 2025-06-01T11:59:00.000Z (60 s ago)',
      'stale: no',
    ]) {
      expect(tooltip).toContain(text);
    }
  });

  it('groups nodes by zone in clusters labelled with the zone', () => {
    expect(parsed.clusters['zone-1']).toEqual({ nodes: ['node-a', 'node-b'], label: 'zone-1' });
    expect(parsed.clusters['zone-2']).toEqual({ nodes: ['node-c'], label: 'zone-2' });
  });

  it('titles the graph with schedule and time, and a legend of every latency colour', () => {
    const label = parsed.graphAttr('label');
    expect(label).toContain('test cluster');
    expect(label).toContain('schedule every-5-min');
    expect(label).toContain('generated 2025-06-01T12:00:00.000Z');
    for (const band of LATENCY_SCALE) expect(label).toContain(`BGCOLOR="${band.color}"`);
    expect(label).toContain('&lt; 1 ms');
    expect(label).toContain('>median latency<');
    expect(label).toContain('line width: mean throughput, log scale');
  });
});

describe('DOT scales and options', () => {
  it('colours by median latency on the fixed scale', () => {
    expect(latencyColor(0.0009)).toBe(LATENCY_SCALE[0]?.color);
    expect(latencyColor(0.001)).toBe(LATENCY_SCALE[1]?.color);
    expect(latencyColor(0.0049)).toBe(LATENCY_SCALE[1]?.color);
    expect(latencyColor(0.019)).toBe(LATENCY_SCALE[2]?.color);
    expect(latencyColor(0.02)).toBe(LATENCY_SCALE[3]?.color);
    expect(latencyColor(5)).toBe(LATENCY_SCALE[3]?.color);
    expect(latencyColor(null)).toBe(EDGE_COLORS.noLatency);
  });

  it('widens the pen one step per decade of throughput, 1 to 6', () => {
    expect(penWidth(null)).toBe(1);
    expect(penWidth(5e5)).toBe(1);
    expect(penWidth(1e6)).toBe(1);
    expect(penWidth(1e8)).toBe(3);
    expect(penWidth(1e9)).toBe(4);
    expect(penWidth(1e11)).toBe(6);
    expect(penWidth(1e13)).toBe(6);
  });

  it('is deterministic whatever the order of the model', () => {
    const model = sampleModel();
    const shuffled: GraphModel = {
      ...model,
      nodes: [...model.nodes].reverse(),
      edges: [...model.edges].reverse(),
    };
    expect(toDot(shuffled)).toBe(toDot(model));
    expect(toDot(structuredClone(model))).toBe(toDot(model));
  });

  it('tunes the DOT to the engine: pinned rings for neato, clusters for dot, zone lengths for sfdp', () => {
    const model = sampleModel();
    const neatoText = toDot(model, { engine: 'neato' });
    const neato = parseDot(neatoText);
    const dot = parseDot(toDot(model, { engine: 'dot' }));
    const sfdp = parseDot(toDot(model, { engine: 'sfdp' }));
    expect(neato.graphAttr('splines')).toBe('curved');
    expect(neato.graphAttr('layout')).toBe('neato');
    expect(neatoText.match(/pos="-?[\d.]+,-?[\d.]+!"/g)).toHaveLength(3);
    expect(neato.edgeAttr('node-a', 'node-b', 'len')).toBe('');
    expect(sfdp.edgeAttr('node-a', 'node-b', 'len')).toBe('1.5'); // same zone
    expect(sfdp.edgeAttr('node-a', 'node-c', 'len')).toBe('3');
    expect(dot.graphAttr('splines')).toBe('');
    expect(dot.graphAttr('layout')).toBe('');
    expect(toDot(model, { engine: 'dot' })).not.toContain('pos=');
  });

  it('labels every edge of a small graph, each at a computed place, and with dot', () => {
    const model = sampleModel();
    const neato = parseDot(toDot(model, { engine: 'neato' }));
    expect(neato.edgeAttr('node-a', 'node-c', 'label')).toBe('server-missing');
    expect(neato.edgeAttr('node-a', 'node-b', 'label')).toBe('0.400 ms\\n921.20 Mbit/s');
    expect(neato.edgeAttr('node-a', 'node-b', 'lp')).toMatch(/^-?[\d.]+,-?[\d.]+$/);
    expect(neato.edgeAttr('node-a', 'node-b', 'pos')).toMatch(/^e,/);
    expect(neato.edgeAttr('node-a', 'node-b', 'tooltip')).toContain('0.400 ms');
    expect(parseDot(toDot(model, { engine: 'dot' })).edgeAttr('node-a', 'node-b', 'label')).toContain('ms');
  });

  it('labels only failed edges above the edge label limit, unless asked', () => {
    const mesh = meshModel(17);
    expect(mesh.edges.length).toBeGreaterThan(EDGE_LABEL_LIMIT);
    const failed = {
      ...mesh,
      edges: mesh.edges.map((e, i) => (i === 0 ? { ...e, connectivity: 0 as const, reason: 'timeout' } : e)),
    };
    const first = failed.edges[1];
    if (first === undefined) throw new Error('mesh has edges');
    const quiet = parseDot(toDot(failed, { engine: 'dot' }));
    expect(quiet.edgeAttr(first.src, first.dst, 'label')).toBe('');
    expect(quiet.edgeAttr(first.src, first.dst, 'tooltip')).toContain('latency');
    const failedEdge = failed.edges[0];
    expect(failedEdge && quiet.edgeAttr(failedEdge.src, failedEdge.dst, 'label')).toBe('timeout');
    const loud = parseDot(toDot(failed, { engine: 'dot', edgeLabels: true }));
    expect(loud.edgeAttr(first.src, first.dst, 'label')).toContain('ms');
  });
});
