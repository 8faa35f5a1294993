import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { toDot } from '../../layers/graph/dot.ts';
import { toGraphML } from '../../layers/graph/graphml.ts';
import { graphFromJson, toGraphJson } from '../../layers/graph/json.ts';
import { renderMatrixSvg } from '../../layers/graph/matrix.ts';
import { renderSvg } from '../../layers/graph/svg.ts';
import { shortened } from '../../layers/graph/text.ts';
import { elementsNamed, failedEdge, model, node, okEdge, parseXml } from '../fixtures/graph/models.ts';

/**
 * Node names (and so labels, ids, tooltips) that break naive writers, through
 * every format: DOT read back by Graphviz itself, SVG and GraphML checked as
 * XML, the names intact where a reader sees them.
 */

const LONG = `${'a-very-long-node-name.'.repeat(11)}end`; // 245 characters: Kubernetes allows 253

const NAMES = [
  'node with spaces',
  'double"quote',
  "single'quote",
  'ünïcödé 東京 😀',
  '<&>',
  '&lt;not an entity&gt;',
  'back\\slash',
  LONG,
];

function namesModel() {
  const nodes = NAMES.map((name, i) =>
    node(name, i % 2 === 0 ? 'zone <"A"> & co' : 'zone-b', `10.0.0.${i + 1}`),
  );
  const edges = NAMES.flatMap((src, i) => {
    const dst = NAMES[(i + 1) % NAMES.length] ?? src;
    return [okEdge(src, dst, 0.001 * (i + 1), 1e8), failedEdge(dst, src, `reason with "${src}"`)];
  });
  return model(nodes, edges, 'names <that> break "writers" & more');
}

const graphviz = await Graphviz.load();

describe('awkward node names through every format', () => {
  const m = namesModel();

  it.each(['dot', 'neato'] as const)(
    'DOT (%s) reads back through Graphviz with every name and edge',
    (engine) => {
      const graph = graphviz.read(toDot(m, { engine }));
      try {
        // DOT has no escape for a lone backslash in an ID: quote() doubles it, one-to-one, and Graphviz keeps
        // the ID as written. Labels are unescaped by Graphviz and show the name itself.
        expect(graph.nodeNames().sort()).toEqual(NAMES.map((n) => n.replaceAll('\\', '\\\\')).sort());
        expect(graph.edges()).toHaveLength(m.edges.length);
        for (const name of NAMES) {
          // The label shows name and address; the raw attribute still holds the escapes Graphviz decodes
          // when it draws (\\, \n, &amp;): the SVG test checks the drawn text.
          const label = graph
            .getNodeAttr(name.replaceAll('\\', '\\\\'), 'label')
            .replaceAll('\\\\', '\\')
            .replaceAll('\\n', '\n')
            .replaceAll('&amp;', '&');
          const found = m.nodes.find((n) => n.name === name);
          // The pinned picture shortens long names (the tooltip and <title> keep them) and adds the zone.
          const expected =
            engine === 'dot'
              ? `${name}\n${found?.address}`
              : `${shortened(name, 40)}\n${found?.address}\n${found?.labels['topology.kubernetes.io/zone']}`;
          expect(label).toBe(expected);
        }
      } finally {
        graph.delete();
      }
    },
  );

  it.each(['dot', 'neato'] as const)(
    'SVG (%s) is well-formed XML and shows every name intact',
    async (engine) => {
      const svg = await renderSvg(toDot(m, { engine }), { engine });
      expect(XMLValidator.validate(svg)).toBe(true);
      const nodes = elementsNamed(parseXml(svg), 'g').filter((g) => g.attrs.class === 'node');
      expect(nodes).toHaveLength(NAMES.length);
      const shown = nodes.map((g) => elementsNamed([g], 'text')[0]?.text ?? '');
      const names = engine === 'dot' ? NAMES : NAMES.map((name) => shortened(name, 40));
      expect(shown.sort()).toEqual([...names].sort());
      const titles = nodes.map((g) => g.children.find((c) => c.name === 'title')?.text ?? '');
      expect(titles).toContain(LONG);
      const title = elementsNamed(parseXml(svg), 'text').map((t) => t.text);
      expect(title).toContain('names <that> break "writers" & more');
    },
  );

  it('GraphML is well-formed XML with every name as a node id and label', () => {
    const xml = toGraphML(m);
    expect(XMLValidator.validate(xml)).toBe(true);
    const nodes = elementsNamed(parseXml(xml), 'node');
    expect(nodes.map((n) => n.attrs.id).sort()).toEqual([...NAMES].sort());
    const labels = nodes.map((n) => n.children.find((c) => c.attrs.key === 'n_label')?.text);
    expect(labels.sort()).toEqual([...NAMES].sort());
    const edges = elementsNamed(parseXml(xml), 'edge');
    expect(edges.map((e) => [e.attrs.source, e.attrs.target])).toEqual(m.edges.map((e) => [e.src, e.dst]));
  });

  it('JSON reads back into the same model', () => {
    expect(graphFromJson(toGraphJson(m))).toEqual(m);
  });

  it('the matrix is well-formed XML with the names on both axes', () => {
    const svg = renderMatrixSvg(m, 'latency');
    expect(XMLValidator.validate(svg)).toBe(true);
    const axes = elementsNamed(parseXml(svg), 'g').filter((g) => g.attrs.class?.startsWith('netmon-axis '));
    const ticks = elementsNamed(axes, 'g').filter((g) => g.attrs.class === 'tick');
    const titles = ticks.map((t) => t.children.find((c) => c.name === 'title')?.text.split('\nzone: ')[0]);
    expect(titles.sort()).toEqual([...NAMES, ...NAMES].sort());
  });
});
