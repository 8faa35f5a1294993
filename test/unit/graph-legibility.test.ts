import { describe, expect, it } from 'vitest';
import { toDot } from '../../layers/graph/dot.ts';
import type { GraphEdgeInput, GraphModel } from '../../layers/graph/model.ts';
import { renderSvg } from '../../layers/graph/svg.ts';
import { textWidth } from '../../layers/graph/text.ts';
import { clusterMesh } from '../bench/graph.bench.ts';
import {
  elementsNamed,
  failedEdge,
  model,
  node,
  okEdge,
  parseXml,
  type XmlElement,
} from '../fixtures/graph/models.ts';

/**
 * What a reader needs of the node-link picture, checked on the SVG's own
 * text elements (position, anchor, font size; widths from the font's
 * metrics, the font Chromium draws them in): no two texts overlap, no label
 * lies on a node, every name fits its box, and the picture scales (viewBox).
 * The browser test (test/browser/graph-pictures.test.ts) checks the same
 * with the sizes Chromium really draws.
 */

interface Rect {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** DejaVu Sans: ascent and descent of its glyphs, in ems. */
const ASCENT = 0.76;
const DESCENT = 0.24;

function textRect(text: XmlElement): Rect {
  const size = Number(text.attrs['font-size']);
  const width = textWidth(text.text, size, text.attrs['font-weight'] === 'bold');
  const x = Number(text.attrs.x);
  const y = Number(text.attrs.y);
  const anchor = text.attrs['text-anchor'] ?? 'start';
  const x0 = anchor === 'middle' ? x - width / 2 : anchor === 'end' ? x - width : x;
  return { x0, x1: x0 + width, y0: y - ASCENT * size, y1: y + DESCENT * size };
}

/** Bounding box of a node's shape (a rounded box is a path, a plain one a polygon). */
function shapeRect(group: XmlElement): Rect {
  const shape = group.children
    .flatMap((c) => [c, ...elementsNamed([c], 'path'), ...elementsNamed([c], 'polygon')])
    .find((c) => c.name === 'path' || c.name === 'polygon');
  const numbers = (shape?.attrs.d ?? shape?.attrs.points ?? '').match(/-?[\d.]+/g)?.map(Number) ?? [];
  const xs = numbers.filter((_, i) => i % 2 === 0);
  const ys = numbers.filter((_, i) => i % 2 === 1);
  return { x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys) };
}

const TOLERANCE = 0.5;

function overlap(a: Rect, b: Rect): boolean {
  return (
    a.x0 < b.x1 - TOLERANCE && b.x0 < a.x1 - TOLERANCE && a.y0 < b.y1 - TOLERANCE && b.y0 < a.y1 - TOLERANCE
  );
}

function within(inner: Rect, outer: Rect): boolean {
  return (
    inner.x0 >= outer.x0 - TOLERANCE &&
    inner.x1 <= outer.x1 + TOLERANCE &&
    inner.y0 >= outer.y0 - TOLERANCE &&
    inner.y1 <= outer.y1 + TOLERANCE
  );
}

function groupsOf(svg: XmlElement[], kind: string): XmlElement[] {
  return elementsNamed(svg, 'g').filter((g) => g.attrs.class?.split(' ').includes(kind));
}

interface Checked {
  edgeLabels: number;
  edges: number;
  /** Nodes marked as bad towards most of their peers. */
  degraded: number;
}

/** Asserts the reader's needs on one picture; returns what it counted. */
async function checkPicture(graph: GraphModel): Promise<Checked> {
  const text = await renderSvg(toDot(graph));
  expect(text).toMatch(/<svg width="100%" height="100%"[^>]* viewBox="0\.00 0\.00 [\d.]+ [\d.]+"/);
  const svg = parseXml(text);
  const texts = elementsNamed(svg, 'text').filter((t) => t.text.trim() !== '');
  const rects = texts.map((t) => ({ text: t.text, rect: textRect(t) }));
  for (const [i, a] of rects.entries()) {
    for (const b of rects.slice(i + 1)) {
      expect(overlap(a.rect, b.rect), `"${a.text}" overlaps "${b.text}"`).toBe(false);
    }
  }
  const nodes = groupsOf(svg, 'node');
  expect(nodes).toHaveLength(graph.nodes.length);
  const shapes = nodes.map((n) => ({ node: n, shape: shapeRect(n) }));
  for (const { node: n, shape } of shapes) {
    for (const t of elementsNamed([n], 'text')) {
      expect(within(textRect(t), shape), `"${t.text}" fits its box`).toBe(true);
    }
  }
  const edges = groupsOf(svg, 'edge');
  const labels = edges.flatMap((e) => elementsNamed([e], 'text'));
  for (const label of labels) {
    for (const { shape } of shapes)
      expect(overlap(textRect(label), shape), `"${label.text}" on a node`).toBe(false);
  }
  const clusters = groupsOf(svg, 'cluster').flatMap((c) => elementsNamed([c], 'text'));
  for (const title of clusters) {
    for (const { shape } of shapes)
      expect(overlap(textRect(title), shape), `zone "${title.text}"`).toBe(false);
  }
  return {
    edgeLabels: edges.filter((e) => elementsNamed([e], 'text').length > 0).length,
    edges: edges.length,
    degraded: nodes.filter((n) => n.attrs.class?.includes('netmon-degraded')).length,
  };
}

const LONG = (i: number) => `worker-pool-${i}-with-a-rather-long-generated-name-${'x'.repeat(i % 7)}-abcdef`;

/** A full mesh of n nodes over two zones; `cut` nodes reach nobody and nobody reaches them. */
function mesh(n: number, options: { cut?: number; long?: boolean } = {}): GraphModel {
  const names = Array.from({ length: n }, (_, i) => (options.long ? LONG(i) : `node-${i + 1}`));
  const cut = new Set(names.slice(0, options.cut ?? 0));
  const edges: GraphEdgeInput[] = names.flatMap((src, i) =>
    names
      .filter((dst) => dst !== src)
      .map((dst, j) =>
        cut.has(src) || cut.has(dst)
          ? failedEdge(src, dst, 'unreachable')
          : {
              ...okEdge(src, dst, 0.0001 * (1 + ((i * 7 + j * 3) % 40)), 1e7 * (1 + ((i + j) % 90))),
              lossRatio: 0,
            },
      ),
  );
  return model(
    names.map((name, i) => node(name, i < n / 2 ? 'zone-a' : 'zone-b', `10.0.0.${i + 1}`)),
    edges,
  );
}

describe('graph pictures a person can read', () => {
  it.each([2, 3, 4, 5, 6, 7, 8, 9, 10])(
    'full mesh of %i: every direction labelled, nothing overlaps',
    async (n) => {
      const { edgeLabels, edges } = await checkPicture(mesh(n));
      expect(edges).toBe(n * (n - 1));
      expect(edgeLabels).toBe(edges);
    },
  );

  it.each([4, 8, 10])('mesh of %i with one node cut off: every direction labelled', async (n) => {
    const { edgeLabels, edges } = await checkPicture(mesh(n, { cut: 1 }));
    expect(edgeLabels).toBe(edges);
  });

  it.each([3, 8, 10])('mesh of %i with long names: names shortened to fit, labels apart', async (n) => {
    const { edgeLabels, edges } = await checkPicture(mesh(n, { long: true }));
    expect(edgeLabels).toBe(edges);
  });

  it.each([12, 16, 20])(
    'mesh of %i with two nodes cut off: both nodes marked, nothing overlaps',
    async (n) => {
      const { degraded } = await checkPicture(mesh(n, { cut: 2 }));
      expect(degraded).toBe(2);
    },
  );

  it.each([8, 20, 50, 100])('bench mesh of %i (cloud names, three zones)', async (n) => {
    const { edges } = await checkPicture(clusterMesh(n));
    expect(edges).toBeGreaterThan(0);
  });
});
