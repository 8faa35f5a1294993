import { XMLValidator } from 'fast-xml-parser';
import { JSDOM } from 'jsdom';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../layers/core/errors.ts';
import { formatBitsPerSecond } from '../../layers/core/format.ts';
import {
  drawMatrix,
  MATRIX_LABEL_MAX_CHARS,
  MATRIX_METRICS,
  type MatrixMetric,
  renderMatrixSvg,
} from '../../layers/graph/matrix.ts';
import type { GraphModel } from '../../layers/graph/model.ts';
import { EDGE_COLORS, MATRIX_COLORS } from '../../layers/graph/palette.ts';
import { awkwardModel, meshModel, model, node, okEdge, sampleModel } from '../fixtures/graph/models.ts';

/** The matrix as a real DOM (jsdom), for CSS selectors. */
function parse(svg: string): Document {
  return new JSDOM(svg, { contentType: 'image/svg+xml' }).window.document;
}

interface CellView {
  src: string;
  dst: string;
  classes: string[];
  fill: string;
  title: string | null;
  text: string | null;
}

function cells(doc: Document): CellView[] {
  return [...doc.querySelectorAll('g.netmon-cell')].map((g) => ({
    src: g.getAttribute('data-src') ?? '',
    dst: g.getAttribute('data-dst') ?? '',
    classes: (g.getAttribute('class') ?? '').split(' '),
    fill: g.querySelector('rect')?.getAttribute('fill') ?? '',
    title: g.querySelector('title')?.textContent ?? null,
    text: g.querySelector('text')?.textContent ?? null,
  }));
}

function cell(all: readonly CellView[], src: string, dst: string): CellView {
  const found = all.find((c) => c.src === src && c.dst === dst);
  if (found === undefined) throw new Error(`no cell ${src} -> ${dst}`);
  return found;
}

function axisLabels(doc: Document, axis: 'src' | 'dst'): Array<{ text: string; title: string }> {
  return [...doc.querySelectorAll(`.netmon-axis-${axis} .tick`)].map((tick) => ({
    text: tick.querySelector('text')?.textContent ?? '',
    title: tick.querySelector('title')?.textContent ?? '',
  }));
}

describe('matrix view: cells', () => {
  const doc = parse(renderMatrixSvg(sampleModel(), 'latency'));
  const all = cells(doc);

  it('has N x N cells, rows by source and columns by destination, the diagonal empty', () => {
    expect(all).toHaveLength(9);
    const diagonal = all.filter((c) => c.src === c.dst);
    expect(diagonal).toHaveLength(3);
    for (const c of diagonal) {
      expect(c.classes).toContain('netmon-diagonal');
      expect(c.title).toBeNull();
      expect(c.text).toBeNull();
    }
    // Rows in zone order: node-a, node-b (zone-1), node-c (zone-2); a row lists every destination.
    expect(all.slice(0, 3).map((c) => [c.src, c.dst])).toEqual([
      ['node-a', 'node-a'],
      ['node-a', 'node-b'],
      ['node-a', 'node-c'],
    ]);
  });

  it('puts the value and the measurement time in each cell tooltip', () => {
    const ab = cell(all, 'node-a', 'node-b');
    expect(ab.title).toContain('node-a → node-b');
    expect(ab.title).toContain('median latency: 0.400 ms');
    expect(ab.title).toContain('measured 2025-06-01T11:59:00.000Z (60 s ago)');
    expect(ab.text).toBe('0.4');
    const throughput = cells(parse(renderMatrixSvg(sampleModel(), 'throughput')));
    const abFigures = sampleModel().edges.find((e) => e.src === 'node-a' && e.dst === 'node-b')?.throughput;
    // The headline is the mean (921.2 Mbit/s in the fixture); the median and p99 follow.
    expect(cell(throughput, 'node-a', 'node-b').title).toContain(
      `mean throughput: ${formatBitsPerSecond(abFigures?.mean)}`,
    );
    expect(cell(throughput, 'node-a', 'node-b').title).toContain(
      `median / p99: ${formatBitsPerSecond(abFigures?.median)} / ${formatBitsPerSecond(abFigures?.p99)}`,
    );
    expect(cell(throughput, 'node-a', 'node-b').text).toBe('921M');
    const loss = cells(parse(renderMatrixSvg(sampleModel(), 'loss')));
    expect(cell(loss, 'node-b', 'node-a').title).toContain('loss: 1.0 %');
  });

  it('shows asymmetry: A->B and B->A are different cells with different colours', () => {
    const ab = cell(all, 'node-a', 'node-b');
    const ba = cell(all, 'node-b', 'node-a');
    expect(ab.classes).toContain('netmon-ok');
    expect(ba.classes).toContain('netmon-ok');
    expect(ab.fill).not.toBe(ba.fill);
    expect(ba.text).toBe('30');
  });

  it('hatches a cut pair red, greys a stale one, outlines a never-measured one', () => {
    const cut = cell(all, 'node-a', 'node-c');
    expect(cut.classes).toContain('netmon-failed');
    expect(cut.fill).toBe('url(#netmon-failed-hatch)');
    expect(cut.title).toContain('FAILED: server-missing');
    const hatch = doc.querySelector('pattern#netmon-failed-hatch line');
    expect(hatch?.getAttribute('stroke')).toBe(EDGE_COLORS.failed);
    const stale = cell(all, 'node-c', 'node-a');
    expect(stale.classes).toContain('netmon-stale');
    expect(stale.fill).toBe(MATRIX_COLORS.stale);
    expect(stale.title).toContain('STALE: older than 10 min');
    expect(stale.title).toContain('2.000 ms'); // the last figure known, said to be old
    const never = cell(all, 'node-b', 'node-c');
    expect(never.classes).toContain('netmon-unmeasured');
    expect(never.title).toContain('not measured');
    // No edge at all for c -> b: drawn like a never-measured pair.
    expect(cell(all, 'node-c', 'node-b').classes).toContain('netmon-unmeasured');
  });

  it('greys a reached pair without a figure for the metric', () => {
    const pingOnly = model(
      [node('a'), node('b')],
      [okEdge('a', 'b', 0.001, null), okEdge('b', 'a', 0.001, 1e8)],
    );
    const throughput = cells(parse(renderMatrixSvg(pingOnly, 'throughput')));
    expect(cell(throughput, 'a', 'b').classes).toContain('netmon-no-figure');
    expect(cell(throughput, 'a', 'b').fill).toBe(MATRIX_COLORS.noFigure);
    expect(cell(throughput, 'a', 'b').title).toContain('no figure');
  });

  it('prints values in the cells up to 15 nodes, only tooltips above (unless asked)', () => {
    const text = (m: GraphModel, options = {}) =>
      cells(parse(renderMatrixSvg(m, 'latency', options))).filter((c) => c.text !== null).length;
    expect(text(meshModel(15))).toBe(210);
    expect(text(meshModel(16))).toBe(0);
    expect(text(meshModel(16), { cellValues: true })).toBe(240);
    expect(text(meshModel(3), { cellValues: false })).toBe(0);
  });

  it('draws 100 nodes as 10 000 cells, one tooltip per pair', () => {
    const svg = renderMatrixSvg(meshModel(100), 'throughput');
    expect(XMLValidator.validate(svg)).toBe(true);
    const all100 = cells(parse(svg));
    expect(all100).toHaveLength(10_000);
    expect(all100.filter((c) => c.title !== null)).toHaveLength(9900);
  });
});

describe('matrix view: axes, legend, title', () => {
  it('labels both axes with the node names, escaped, and keeps each full name in a <title>', () => {
    const long = `${'very-long-node-name-'.repeat(10)}end`;
    const awkward = awkwardModel();
    const withLong: GraphModel = {
      ...awkward,
      nodes: [...awkward.nodes, { name: long, address: null, labels: {} }],
    };
    const svg = renderMatrixSvg(withLong, 'latency');
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg).toContain('&lt;b&gt;&amp;amp;');
    const doc = parse(svg);
    for (const axis of ['src', 'dst'] as const) {
      const labels = axisLabels(doc, axis);
      expect(labels).toHaveLength(withLong.nodes.length);
      const shown = labels.map((l) => l.text);
      for (const n of awkward.nodes) expect(shown).toContain(n.name);
      const cut = labels.find((l) => l.title.startsWith(long));
      expect(cut?.text).toBe(`${long.slice(0, MATRIX_LABEL_MAX_CHARS - 1)}…`);
      expect(labels.map((l) => l.title.split('\nzone: ')[0]).sort()).toEqual(
        withLong.nodes.map((n) => n.name).sort(),
      );
    }
    expect(doc.querySelector('.netmon-axis-dst')?.parentNode?.textContent).toContain('destination (dst)');
    expect([...doc.querySelectorAll('.netmon-axis-title')].map((t) => t.textContent)).toEqual([
      'destination (dst) →',
      '← source (src)',
    ]);
  });

  it.each(MATRIX_METRICS)('has a legend for %s: colour ramp with ticks, and every cell state', (metric) => {
    const doc = parse(renderMatrixSvg(sampleModel(), metric));
    const legend = doc.querySelector('.netmon-legend');
    expect(legend?.querySelector('text')?.textContent).toBe(metric);
    const ramp = legend?.querySelector('rect.netmon-legend-ramp');
    expect(ramp?.getAttribute('fill')).toBe(`url(#netmon-${metric}-ramp)`);
    expect(doc.querySelectorAll(`linearGradient#netmon-${metric}-ramp stop`)).toHaveLength(17);
    const ticks = [...(legend?.querySelectorAll('.netmon-legend-axis .tick text') ?? [])].map(
      (t) => t.textContent,
    );
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    const states = [...(legend?.querySelectorAll('.netmon-legend-state') ?? [])].map((g) => g.textContent);
    expect(states).toEqual([
      'failed: no connectivity',
      'stale: older than 10 min',
      `reached, no ${metric} figure`,
      'not measured',
    ]);
  });

  it('puts round figures on the latency legend: decades around the values', () => {
    const doc = parse(renderMatrixSvg(sampleModel(), 'latency'));
    const ticks = [...doc.querySelectorAll('.netmon-legend-axis .tick text')].map((t) => t.textContent);
    // Fresh values 0.4 ms and 30 ms (the stale 2 ms does not set the scale).
    expect(ticks).toEqual(['100 µs', '1 ms', '10 ms', '100 ms']);
  });

  it('titles the view with the graph title, the metric, schedule and time', () => {
    const doc = parse(renderMatrixSvg(sampleModel(), 'throughput'));
    expect(doc.querySelector('svg > title')?.textContent).toBe('test cluster: mean throughput src → dst');
    expect(doc.querySelector('.netmon-title')?.textContent).toBe('test cluster');
    const subtitle = doc.querySelector('.netmon-subtitle')?.textContent ?? '';
    expect(subtitle).toContain('schedule every-5-min');
    expect(subtitle).toContain('generated 2025-06-01T12:00:00.000Z');
    expect(subtitle).toContain('stale after 10 min');
  });

  it('separates zones with lines', () => {
    const doc = parse(renderMatrixSvg(meshModel(9), 'latency'));
    // Three zones of three: two boundaries, each a row line and a column line.
    expect(doc.querySelectorAll('.netmon-zones line')).toHaveLength(4);
    const rows = axisLabels(doc, 'src').map((l) => l.title.replace('\nzone: ', ' @ '));
    expect(rows.slice(0, 4)).toEqual([
      'node-01 @ zone-0',
      'node-04 @ zone-0',
      'node-07 @ zone-0',
      'node-02 @ zone-1',
    ]);
  });
});

describe('matrix view: drawing', () => {
  it.each([
    ['sample', sampleModel],
    ['awkward names', awkwardModel],
    ['mesh of 20', () => meshModel(20)],
  ])('draws the same SVG into jsdom as into the built-in SVG DOM (%s)', (_name, make) => {
    const m = make();
    for (const metric of MATRIX_METRICS) {
      const window = new JSDOM('').window;
      const element = drawMatrix(window.document, m, metric) as Element;
      const viaJsdom = new window.XMLSerializer().serializeToString(element);
      expect(renderMatrixSvg(m, metric)).toBe(`<?xml version="1.0" encoding="UTF-8"?>\n${viaJsdom}\n`);
    }
  });

  it('is deterministic and independent of the order of the model', () => {
    const m = sampleModel();
    const shuffled = { ...m, nodes: [...m.nodes].reverse(), edges: [...m.edges].reverse() };
    expect(renderMatrixSvg(shuffled, 'loss')).toBe(renderMatrixSvg(m, 'loss'));
  });

  it('refuses an unknown metric, naming the valid ones', () => {
    let caught: unknown;
    try {
      renderMatrixSvg(sampleModel(), 'jitter' as MatrixMetric);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).message).toBe(
      'metric: "jitter" is not valid; expected one of latency, throughput, loss',
    );
  });
});
