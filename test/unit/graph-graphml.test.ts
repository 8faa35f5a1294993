import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { GRAPHML_KEYS, toGraphML } from '../../layers/graph/graphml.ts';
import type { GraphModel } from '../../layers/graph/model.ts';
import {
  AWKWARD_NAMES,
  awkwardModel,
  elementsNamed,
  meshModel,
  parseXml,
  sampleModel,
  type XmlElement,
} from '../fixtures/graph/models.ts';

/** Reads the document back with fast-xml-parser, the way a GraphML reader resolves <data key>. */
function readGraphML(xml: string) {
  const root = elementsNamed(parseXml(xml), 'graphml')[0];
  if (root === undefined) throw new Error('no <graphml> element');
  const keys = new Map(elementsNamed([root], 'key').map((k) => [k.attrs.id ?? '', k.attrs]));
  const graph = root.children.find((c) => c.name === 'graph');
  if (graph === undefined) throw new Error('no <graph> element');
  const dataOf = (element: XmlElement): Record<string, string> =>
    Object.fromEntries(
      element.children
        .filter((c) => c.name === 'data')
        .map((d) => [keys.get(d.attrs.key ?? '')?.['attr.name'] ?? `undeclared:${d.attrs.key}`, d.text]),
    );
  return {
    root,
    keys,
    graph,
    graphData: dataOf(graph),
    nodes: graph.children.filter((c) => c.name === 'node').map((n) => ({ id: n.attrs.id, data: dataOf(n) })),
    edges: graph.children
      .filter((c) => c.name === 'edge')
      .map((e) => ({ source: e.attrs.source, target: e.attrs.target, data: dataOf(e) })),
  };
}

describe('GraphML', () => {
  const model: GraphModel = sampleModel();
  const xml = toGraphML(model);
  const doc = readGraphML(xml);

  it('is a directed GraphML document in the GraphML namespace', () => {
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    expect(doc.root.attrs.xmlns).toBe('http://graphml.graphdrawing.org/xmlns');
    expect(doc.graph.attrs.edgedefault).toBe('directed');
  });

  it('declares every data key once, with a GraphML type and domain', () => {
    expect(elementsNamed([doc.root], 'key')).toHaveLength(GRAPHML_KEYS.length);
    expect(doc.keys.size).toBe(GRAPHML_KEYS.length);
    for (const key of doc.keys.values()) {
      expect(['boolean', 'int', 'long', 'float', 'double', 'string']).toContain(key['attr.type']);
      expect(['graph', 'node', 'edge']).toContain(key.for);
      expect(key['attr.name']).toMatch(/^[a-z][a-z0-9_]*$/);
    }
    const used = elementsNamed([doc.root], 'data').map((d) => d.attrs.key ?? '');
    for (const id of used) expect(doc.keys.has(id)).toBe(true);
    expect(doc.keys.get('e_latency_median_seconds')).toMatchObject({ for: 'edge', 'attr.type': 'double' });
    expect(doc.keys.get('e_connectivity')).toMatchObject({ for: 'edge', 'attr.type': 'int' });
    expect(doc.keys.get('e_stale')).toMatchObject({ for: 'edge', 'attr.type': 'boolean' });
    expect(doc.keys.get('g_title')).toMatchObject({ for: 'graph', 'attr.type': 'string' });
  });

  it('writes one <edge> per model edge, each direction on its own', () => {
    expect(doc.nodes.map((n) => n.id)).toEqual(model.nodes.map((n) => n.name));
    expect(doc.edges).toHaveLength(model.edges.length);
    expect(doc.edges.map((e) => `${e.source}>${e.target}`)).toEqual(
      model.edges.map((e) => `${e.src}>${e.dst}`),
    );
  });

  it('round-trips numbers exactly and omits nulls', () => {
    model.edges.forEach((edge, i) => {
      const data = doc.edges[i]?.data ?? {};
      const number = (name: string) => (data[name] === undefined ? null : Number(data[name]));
      expect(number('latency_median_seconds')).toBe(edge.latency?.median ?? null);
      expect(number('latency_p99_seconds')).toBe(edge.latency?.p99 ?? null);
      expect(number('throughput_median_bits_per_second')).toBe(edge.throughput?.median ?? null);
      expect(number('loss_ratio')).toBe(edge.lossRatio);
      expect(number('age_seconds')).toBe(edge.ageSeconds);
      expect(number('connectivity')).toBe(edge.connectivity);
      expect(data.stale).toBe(String(edge.stale));
      expect(data.reason ?? null).toBe(edge.reason);
    });
    const unmeasured = doc.edges.find((e) => e.source === 'node-b' && e.target === 'node-c');
    expect(unmeasured?.data).toEqual({ stale: 'true' });
  });

  it('carries graph and node attributes', () => {
    expect(doc.graphData).toMatchObject({
      version: '1',
      title: 'test cluster',
      schedule: 'every-5-min',
      generated_at: '2025-06-01T12:00:00.000Z',
      max_age_seconds: '600',
    });
    expect(doc.nodes[0]?.data).toEqual({
      label: 'node-a',
      address: '10.0.0.1',
      zone: 'zone-1',
      labels: '{"topology.kubernetes.io/zone":"zone-1"}',
    });
  });

  it('keeps awkward names exact in ids, sources and targets', () => {
    const awkward = awkwardModel();
    const back = readGraphML(toGraphML(awkward));
    expect(back.nodes.map((n) => n.id).sort()).toEqual([...AWKWARD_NAMES].sort());
    // XML parsers turn a raw newline in an attribute into a space: it must be a character reference.
    const xml = toGraphML(awkward);
    expect(xml).toContain('<node id="line1&#10;line2">');
    expect(xml).not.toMatch(/="[^"]*\n[^"]*"/);
    expect(back.edges.map((e) => [e.source, e.target])).toEqual(awkward.edges.map((e) => [e.src, e.dst]));
    expect(back.graphData.title).toBe(awkward.title);
    expect(back.edges.find((e) => e.data.reason !== undefined)?.data.reason).toMatch(/^tool-error "\d"\n$/);
  });

  it('is deterministic', () => {
    expect(toGraphML(structuredClone(model))).toBe(xml);
  });
});

/** What a value of each GraphML attr.type must look like for networkx, yEd and Gephi to read it. */
const VALUE_OF_TYPE: Record<string, RegExp> = {
  int: /^-?\d+$/,
  long: /^-?\d+$/,
  double: /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/,
  float: /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/,
  boolean: /^(true|false)$/,
  string: /^[\s\S]*$/,
};

type Keys = Map<string, Record<string, string>>;

function keyProblems(root: XmlElement, keys: Keys): string[] {
  const problems: string[] = [];
  const order = root.children.map((c) => c.name);
  if (order.lastIndexOf('key') > order.indexOf('graph')) problems.push('a <key> after <graph>');
  for (const key of root.children.filter((c) => c.name === 'key')) {
    const id = key.attrs.id ?? '';
    if (keys.has(id)) problems.push(`duplicate key ${id}`);
    keys.set(id, key.attrs);
    if (!Object.hasOwn(VALUE_OF_TYPE, key.attrs['attr.type'] ?? ''))
      problems.push(`key ${id}: bad attr.type`);
    if (!['graph', 'node', 'edge', 'all'].includes(key.attrs.for ?? '')) problems.push(`key ${id}: bad for`);
  }
  return problems;
}

function dataProblems(element: XmlElement, domain: string, keys: Keys): string[] {
  return element.children
    .filter((c) => c.name === 'data')
    .flatMap((data) => {
      const key = keys.get(data.attrs.key ?? '');
      if (key === undefined) return [`undeclared key ${data.attrs.key}`];
      if (key.for !== domain && key.for !== 'all') return [`key ${data.attrs.key} used on a ${domain}`];
      if (VALUE_OF_TYPE[key['attr.type'] ?? '']?.test(data.text)) return [];
      return [`${data.attrs.key}: ${JSON.stringify(data.text)} is not a ${key['attr.type']}`];
    });
}

function uniqueIds(elements: readonly XmlElement[], kind: string): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const element of elements) {
    const id = element.attrs.id ?? '';
    if (seen.has(id)) problems.push(`duplicate ${kind} ${id}`);
    seen.add(id);
  }
  return problems;
}

function graphProblems(graph: XmlElement, keys: Keys): string[] {
  const problems: string[] = [];
  if (!['directed', 'undirected'].includes(graph.attrs.edgedefault ?? '')) problems.push('no edgedefault');
  const nodes = graph.children.filter((c) => c.name === 'node');
  const edges = graph.children.filter((c) => c.name === 'edge');
  const nodeIds = new Set(nodes.map((n) => n.attrs.id ?? ''));
  problems.push(
    ...uniqueIds(nodes, 'node'),
    ...uniqueIds(edges, 'edge'),
    ...dataProblems(graph, 'graph', keys),
  );
  for (const node of nodes) problems.push(...dataProblems(node, 'node', keys));
  for (const edge of edges) {
    for (const end of ['source', 'target'] as const) {
      if (!nodeIds.has(edge.attrs[end] ?? '')) problems.push(`edge ${edge.attrs.id}: unknown ${end}`);
    }
    problems.push(...dataProblems(edge, 'edge', keys));
  }
  return problems;
}

/**
 * The structural rules of the GraphML primer that readers rely on, checked
 * here because networkx is not installed in analysis/.venv (and is not to be
 * installed there): well-formed XML, keys declared before the graph with a
 * known type and domain, every <data> pointing at a key of its own domain
 * with a value of the key's type, unique ids, edges between declared nodes.
 */
function graphmlProblems(xml: string): string[] {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) return [`not well-formed: ${JSON.stringify(valid)}`];
  const root = elementsNamed(parseXml(xml), 'graphml')[0];
  if (root === undefined) return ['no <graphml> root'];
  const problems: string[] = [];
  if (root.attrs.xmlns !== 'http://graphml.graphdrawing.org/xmlns') problems.push('wrong namespace');
  const keys: Keys = new Map();
  problems.push(...keyProblems(root, keys));
  const graphs = root.children.filter((c) => c.name === 'graph');
  if (graphs.length !== 1) problems.push(`${graphs.length} <graph> elements`);
  for (const graph of graphs) problems.push(...graphProblems(graph, keys));
  return problems;
}

describe('GraphML structure (what networkx, yEd and Gephi rely on)', () => {
  it.each([
    ['sample', sampleModel],
    ['awkward names', awkwardModel],
    ['full mesh of 12', () => meshModel(12)],
  ])('has no structural problem: %s', (_name, make) => {
    expect(graphmlProblems(toGraphML(make()))).toEqual([]);
  });

  it('finds the problems it looks for (the checker is not a no-op)', () => {
    const xml = toGraphML(sampleModel());
    expect(
      graphmlProblems(xml.replace('<data key="e_stale">false</data>', '<data key="e_stale">no</data>')),
    ).toEqual(['e_stale: "no" is not a boolean']);
    expect(graphmlProblems(xml.replace('source="node-a"', 'source="node-x"'))[0]).toMatch(/unknown source/);
    expect(graphmlProblems(xml.replace('<data key="n_label">', '<data key="e_reason">'))[0]).toMatch(
      /key e_reason used on a node/,
    );
    expect(graphmlProblems(xml.replace('</graphml>', '')).join()).toMatch(/not well-formed/);
  });
});
