import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { penWidth, toDot } from '../../layers/graph/dot.ts';
import { GraphError } from '../../layers/graph/errors.ts';
import { PICTURE_MAX_EDGES } from '../../layers/graph/focus.ts';
import { parseGraphJson, renderAll } from '../../layers/graph/index.ts';
import type { GraphModel } from '../../layers/graph/model.ts';
import { EDGE_COLORS, LATENCY_SCALE } from '../../layers/graph/palette.ts';
import { chooseEngine, graphvizVersion, renderSvg } from '../../layers/graph/svg.ts';
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
  it('pins every size for neato (positions, arcs and labels computed beforehand)', () => {
    for (const n of [1, 4, 10, 100]) expect(chooseEngine(n)).toBe('neato');
  });

  it("follows the DOT's layout attribute, else picks the engine from its node count", async () => {
    // toDot writes layout="neato" with everything pinned: any Graphviz tool (and renderSvg) lays it out with neato.
    const pinned = toDot(meshModel(16));
    expect(pinned).toContain('layout="neato"');
    expect(await renderSvg(pinned)).toBe(await renderSvg(pinned, { engine: 'neato' }));
    // Without the attribute: neato; few edges, so that a wrong default (dot) fails fast.
    const sixteen = meshModel(16);
    const loose = toDot({ ...sixteen, edges: sixteen.edges.slice(0, 4) }, { engine: 'sfdp' });
    expect(await renderSvg(loose)).toBe(await renderSvg(loose, { engine: 'neato' }));
    expect(await renderSvg(loose)).not.toBe(await renderSvg(loose, { engine: 'dot' }));
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
    // Each box shows the name first, then its zone where it has one.
    const shown = nodes.map(shownText);
    for (const name of AWKWARD_NAMES)
      expect(shown.filter((text) => text.startsWith(name)).length).toBeGreaterThan(0);
    // Names without backslashes or newlines are also the SVG <title>, as Graphviz writes node names there.
    const titles = nodes.map(titleOf);
    for (const name of ['graph', 'node', 'a->b', '-1', 'ünï 😀']) expect(titles).toContain(name);
    expect(groups(svg, 'edge')).toHaveLength(model.edges.length);
    const graphText = shownText(
      elementsNamed(parseXml(svg), 'g')[0] ?? { name: '', attrs: {}, text: '', children: [] },
    );
    expect(graphText).toContain('title with "quotes" & <tags>');
  });

  it('shows zones (clusters with dot, a line in each box on the ring) and each direction of a pair as its own edge', async () => {
    const clustered = await renderSvg(toDot(sampleModel(), { engine: 'dot' }), { engine: 'dot' });
    expect(groups(clustered, 'cluster').map(shownText).sort()).toEqual(['zone-1', 'zone-2']);
    const svg = await renderSvg(toDot(sampleModel()));
    expect(groups(svg, 'node').map(shownText)).toContain('node-a\n10.0.0.1\nzone-1');
    const edges = groups(svg, 'edge');
    const ab = edges.find((e) => titleOf(e) === 'node-a->node-b');
    const ba = edges.find((e) => titleOf(e) === 'node-b->node-a');
    // The mean throughput of the fixture (0.98 x its median).
    expect(ab && shownText(ab)).toBe('0.400 ms\n921.20 Mbit/s');
    expect(ba && shownText(ba)).toBe('30.000 ms\n1.96 Mbit/s');
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

/** The drawn line of the edge src -> dst: the <path> of its group (Graphviz titles edges `src->dst`). */
function edgeLine(svg: string, src: string, dst: string): Record<string, string> {
  const group = groups(svg, 'edge').find((g) => titleOf(g) === `${src}->${dst}`);
  const path = group === undefined ? undefined : elementsNamed([group], 'path')[0];
  if (path === undefined) throw new Error(`no edge ${src}->${dst} in the SVG`);
  return path.attrs;
}

describe.each(['dot', 'neato'] as const)('SVG visual encoding (%s)', (engine) => {
  const svgPromise = renderSvg(toDot(sampleModel(), { engine }), { engine });

  it('is well-formed XML', async () => {
    expect(XMLValidator.validate(await svgPromise)).toBe(true);
  });

  it('draws the cut pair dashed red', async () => {
    const cut = edgeLine(await svgPromise, 'node-a', 'node-c');
    expect(cut.stroke).toBe(EDGE_COLORS.failed);
    expect(cut['stroke-dasharray']).toBe('5,2');
  });

  it('draws the stale and the never-measured pair grey and dotted', async () => {
    for (const [src, dst] of [
      ['node-c', 'node-a'],
      ['node-b', 'node-c'],
    ] as const) {
      const line = edgeLine(await svgPromise, src, dst);
      expect(line.stroke).toBe(EDGE_COLORS.stale);
      expect(line['stroke-dasharray']).toBe('1,5');
    }
  });

  it('tells A->B from B->A by colour and width (asymmetric pair)', async () => {
    const ab = edgeLine(await svgPromise, 'node-a', 'node-b');
    const ba = edgeLine(await svgPromise, 'node-b', 'node-a');
    expect(ab.stroke).toBe(LATENCY_SCALE[0]?.color);
    expect(ba.stroke).toBe(LATENCY_SCALE[3]?.color);
    const mean = (src: string, dst: string): number | null =>
      sampleModel().edges.find((e) => e.src === src && e.dst === dst)?.throughput?.mean ?? null;
    expect(Number(ab['stroke-width'])).toBeCloseTo(penWidth(mean('node-a', 'node-b')), 1);
    expect(Number(ba['stroke-width'])).toBeCloseTo(penWidth(mean('node-b', 'node-a')), 1);
    expect(ab['stroke-dasharray']).toBeUndefined();
    // Two separate lines, not one drawn twice.
    expect(ab.d).not.toBe(ba.d);
  });
});

describe('renderAll', () => {
  it('renders a 30-node mesh (870 edges, every one slow) as zone columns with the bad nodes marked', async () => {
    const model: GraphModel = meshModel(30);
    expect(model.edges).toHaveLength(870);
    const rendered = await renderAll(model);
    expect(groups(rendered.svg, 'node')).toHaveLength(30);
    expect(groups(rendered.svg, 'cluster')).toHaveLength(3);
    expect(groups(rendered.svg, 'edge').length).toBeLessThanOrEqual(PICTURE_MAX_EDGES);
    expect(elementsNamed(parseXml(rendered.graphml), 'edge')).toHaveLength(870);
    expect(parseGraphJson(rendered.json)).toEqual(model);
    expect(rendered.dot).toContain('netmon_pinned="true"');
  });

  it('keeps node positions where the layout pinned them', async () => {
    const model = meshModel(12);
    const rendered = await renderAll(model);
    const centre = (name: string): [number, number] => {
      const node = groups(rendered.svg, 'node').find((g) => titleOf(g) === name);
      const text = node === undefined ? undefined : elementsNamed([node], 'text')[0];
      return [Number(text?.attrs.x), Number(text?.attrs.y)];
    };
    const pinned = (name: string): [number, number] => {
      const match = new RegExp(`"${name}" \\[[^\\]]*pos="([-\\d.]+),([-\\d.]+)!"`).exec(rendered.dot);
      return [Number(match?.[1]), Number(match?.[2])];
    };
    // Graphviz keeps pinned nodes' relative positions (points, y flipped in SVG).
    const [ax, ay] = centre('node-01');
    const [bx, by] = centre('node-02');
    const [pax, pay] = pinned('node-01');
    const [pbx, pby] = pinned('node-02');
    expect(bx - ax).toBeCloseTo(pbx - pax, 0);
    expect(by - ay).toBeCloseTo(-(pby - pay), -1);
  });
});
