import { axisBottom } from 'd3-axis';
import { scaleLinear } from 'd3-scale';
import { type BaseType, select } from 'd3-selection';
import { JSDOM } from 'jsdom';
import { describe, expect, it } from 'vitest';
import { GraphError } from '../../layers/graph/errors.ts';
import { SVG_NS, SvgDocument, type SvgElement, serializeSvg } from '../../layers/graph/svg-dom.ts';

/**
 * The small SVG DOM must behave like a real one for everything d3 does with
 * it: each scene is drawn into svg-dom and into jsdom, and the two
 * serializations must be equal.
 */

type Scene = (root: BaseType) => void;

function both(scene: Scene): { mine: string; jsdom: string } {
  const document = new SvgDocument();
  const mineRoot = document.createElementNS(SVG_NS, 'svg');
  scene(mineRoot as unknown as BaseType);
  const window = new JSDOM('').window;
  const jsdomRoot = window.document.createElementNS(SVG_NS, 'svg');
  scene(jsdomRoot);
  return { mine: serializeSvg(mineRoot), jsdom: new window.XMLSerializer().serializeToString(jsdomRoot) };
}

function expectSame(scene: Scene): string {
  const { mine, jsdom } = both(scene);
  expect(mine).toBe(jsdom);
  return mine;
}

describe('svg-dom', () => {
  it('serializes like XMLSerializer: namespace, empty elements, escaped text and attributes', () => {
    const out = expectSame((root) => {
      const svg = select(root);
      svg.append('g').attr('class', 'a b').attr('data-name', 'x"<&>\'\t\n\r').append('rect').attr('width', 3);
      svg.append('text').text('<b>&amp; "quoted" \'single\' ünï 😀\nline 2');
    });
    expect(out).toBe(
      '<svg xmlns="http://www.w3.org/2000/svg"><g class="a b" data-name="x&quot;&lt;&amp;&gt;\'&#x9;&#xA;&#xD;"><rect width="3"/></g>' +
        '<text>&lt;b&gt;&amp;amp; "quoted" \'single\' ünï 😀\nline 2</text></svg>',
    );
  });

  it('joins data: enter, update, exit and reorder by key', () => {
    const draw = (root: BaseType, data: string[]) =>
      select(root)
        .selectAll('circle')
        .data(data, (d) => String(d))
        .join('circle')
        .attr('id', (d) => d);
    const out = expectSame((root) => {
      draw(root, ['a', 'b', 'c', 'd']);
      draw(root, ['d', 'b', 'e']); // a and c leave, d moves first, e enters
    });
    expect(out).toBe(
      '<svg xmlns="http://www.w3.org/2000/svg"><circle id="d"/><circle id="b"/><circle id="e"/></svg>',
    );
  });

  it('selects by tag, class and lists, and filters with matches', () => {
    expectSame((root) => {
      const svg = select(root);
      const g = svg.append('g').attr('class', 'outer');
      g.append('rect').attr('class', 'cell ok');
      g.append('rect').attr('class', 'cell failed');
      g.append('g').attr('class', 'inner').append('rect').attr('class', 'cell ok');
      svg.selectAll('rect.ok').attr('fill', 'green');
      svg.selectAll('.failed, .inner').attr('data-hit', 1);
      svg.selectAll('rect').filter('.failed').attr('stroke', 'red');
      svg.select('*').attr('data-first', 'yes');
      svg.insert('title', '.outer').text('inserted before the first .outer');
      svg.select('.inner').remove();
      svg.selectAll('g').classed('extra', true);
    });
  });

  it('draws a d3 axis the same way', () => {
    expectSame((root) => {
      select(root)
        .append('g')
        .attr('transform', 'translate(10,10)')
        .call(axisBottom(scaleLinear().domain([0, 1]).range([0, 100])).ticks(5) as never);
    });
  });

  it('reads text back and moves nodes between parents', () => {
    const document = new SvgDocument();
    const a = document.createElementNS(SVG_NS, 'g');
    const b = document.createElementNS(SVG_NS, 'g');
    const child = a.appendChild(document.createElementNS(SVG_NS, 'text'));
    child.textContent = 'hello';
    expect(a.textContent).toBe('hello');
    b.appendChild(child);
    expect(a.childNodes).toHaveLength(0);
    expect(child.parentNode).toBe(b);
    expect(() => child.appendChild(b as SvgElement)).toThrow(GraphError);
  });

  it('refuses selectors it does not implement instead of matching wrongly', () => {
    const document = new SvgDocument();
    const root = document.createElementNS(SVG_NS, 'svg');
    for (const selector of ['g text', 'g > text', '[data-x]', '#id', ':first-child', '']) {
      expect(() => root.querySelectorAll(selector), selector).toThrow(GraphError);
    }
  });
});
