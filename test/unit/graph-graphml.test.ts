import { describe, expect, it } from 'vitest';
import { GRAPHML_KEYS, toGraphML } from '../../layers/graph/graphml.ts';
import type { GraphModel } from '../../layers/graph/model.ts';
import {
  AWKWARD_NAMES,
  awkwardModel,
  elementsNamed,
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
