import { describe, expect, it } from 'vitest';
import { toDot } from '../../layers/graph/dot.ts';
import { GraphError } from '../../layers/graph/errors.ts';
import { parseGraphJson, renderAll } from '../../layers/graph/index.ts';
import type { GraphModel } from '../../layers/graph/model.ts';
import { chooseEngine, DOT_ENGINE_MAX_NODES, graphvizVersion, renderSvg } from '../../layers/graph/svg.ts';
import {
  AWKWARD_NAMES,
  awkwardModel,
  elementsNamed,
  meshModel,
  parseXml,
  sampleModel,
  type XmlElement,
} from '../fixtures/graph/models.ts';

function groups(svg: string, kind: 'node' | 'edge' | 'cluster'): XmlElement[] {
  return elementsNamed(parseXml(svg), 'g').filter((g) => g.attrs.class?.split(' ').includes(kind));
}

/** What a reader sees in a group: its <text> lines joined by newlines. */
function shownText(group: XmlElement): string {
  return elementsNamed([group], 'text')
    .map((t) => t.text)
    .join('\n');
}

function titleOf(group: XmlElement): string {
  return group.children.find((c) => c.name === 'title')?.text ?? '';
}

async function expectGraphError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof GraphError)) throw new Error(`expected a GraphError, got ${String(err)}`);
  expect(err.message).toMatch(pattern);
}

describe('engine choice', () => {
  it('uses dot up to 15 nodes and neato above', () => {
    expect(DOT_ENGINE_MAX_NODES).toBe(15);
    expect(chooseEngine(1)).toBe('dot');
    expect(chooseEngine(15)).toBe('dot');
    expect(chooseEngine(16)).toBe('neato');
    expect(chooseEngine(100)).toBe('neato');
  });

  it('picks the default engine from the node count of the DOT itself', async () => {
    const small = toDot(sampleModel());
    expect(await renderSvg(small)).toBe(await renderSvg(small, { engine: 'dot' }));
    // 16 nodes but few edges, so that a wrong default (dot) fails fast instead of hanging.
    const sixteen = meshModel(16);
    const big = toDot({ ...sixteen, edges: sixteen.edges.slice(0, 4) });
    const neato = await renderSvg(big, { engine: 'neato' });
    expect(await renderSvg(big)).toBe(neato);
    expect(neato).not.toBe(await renderSvg(big, { engine: 'dot' }));
  });
});

describe('SVG through real Graphviz', () => {
  it('loads Graphviz once and reports its version', async () => {
    expect(await graphvizVersion()).toMatch(/^\d+\.\d+/);
  });

  it('renders awkward names and shows each one as node text', async () => {
    const model = awkwardModel();
    const svg = await renderSvg(toDot(model));
    const nodes = groups(svg, 'node');
    expect(nodes).toHaveLength(AWKWARD_NAMES.length);
    expect(nodes.map(shownText).sort()).toEqual([...AWKWARD_NAMES].sort());
    // Names without backslashes or newlines are also the SVG <title>, as Graphviz writes node names there.
    const titles = nodes.map(titleOf);
    for (const name of ['graph', 'node', 'a->b', '-1', 'ünï 😀']) expect(titles).toContain(name);
    expect(groups(svg, 'edge')).toHaveLength(model.edges.length);
    const graphText = shownText(
      elementsNamed(parseXml(svg), 'g')[0] ?? { name: '', attrs: {}, text: '', children: [] },
    );
    expect(graphText).toContain('title with "quotes" & <tags>');
  });

  it('shows zones as clusters and each direction of a pair as its own edge', async () => {
    const svg = await renderSvg(toDot(sampleModel()));
    expect(groups(svg, 'cluster').map(shownText).sort()).toEqual(['zone-1', 'zone-2']);
    const edges = groups(svg, 'edge');
    const ab = edges.find((e) => titleOf(e) === 'node-a->node-b');
    const ba = edges.find((e) => titleOf(e) === 'node-b->node-a');
    expect(ab && shownText(ab)).toBe('0.400 ms\n940.00 Mbit/s');
    expect(ba && shownText(ba)).toBe('30.000 ms\n2.00 Mbit/s');
    expect(ab?.attrs.class).toContain('netmon-ok');
  });

  it.each(['dot', 'neato', 'sfdp', 'circo'] as const)('lays out with %s', async (engine) => {
    const svg = await renderSvg(toDot(sampleModel(), { engine }), { engine });
    expect(groups(svg, 'node')).toHaveLength(3);
    expect(groups(svg, 'edge')).toHaveLength(5);
  });

  it('turns bad DOT into a GraphError that quotes Graphviz', async () => {
    await expectGraphError(renderSvg('digraph { a -> }'), /invalid DOT: .*syntax error/);
    await expectGraphError(renderSvg('digraph { a -> }', { engine: 'neato' }), /syntax error/);
    await expectGraphError(renderSvg(''), /DOT/);
  });
});

describe('renderAll', () => {
  it('renders a 30-node full mesh (870 edges) with neato', async () => {
    const model: GraphModel = meshModel(30);
    expect(model.edges).toHaveLength(870);
    const rendered = await renderAll(model);
    expect(groups(rendered.svg, 'node')).toHaveLength(30);
    expect(groups(rendered.svg, 'edge')).toHaveLength(870);
    expect(elementsNamed(parseXml(rendered.graphml), 'edge')).toHaveLength(870);
    expect(parseGraphJson(rendered.json)).toEqual(model);
    expect(rendered.dot).toContain('splines="curved"');
  });
});
