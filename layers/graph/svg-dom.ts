import { GraphError } from './errors.ts';
import { xmlSafe } from './text.ts';

/**
 * Just enough of the DOM for d3-selection and d3-axis to draw an SVG
 * document in Node, serialized the way a browser's (and jsdom's)
 * XMLSerializer writes it. jsdom itself would do, but it is over 3 MB
 * minified and cannot run from an esbuild bundle (it resolves a worker file
 * next to its own sources at load time), and the render function's bundle
 * must stay small. The tests draw the same views into jsdom and compare the
 * output byte for byte.
 *
 * Supported: createElementNS, appendChild/insertBefore/removeChild,
 * get/set/removeAttribute(NS), textContent, children and siblings,
 * compareDocumentPosition, and querySelector(All)/matches with simple
 * selectors (`tag`, `.class`, `tag.class`, `*`, comma lists).
 */

export const SVG_NS = 'http://www.w3.org/2000/svg';

const DOCUMENT_POSITION_PRECEDING = 2;
const DOCUMENT_POSITION_FOLLOWING = 4;

export class SvgText {
  readonly nodeType = 3;
  parentNode: SvgElement | null = null;
  data: string;

  constructor(data: string) {
    this.data = data;
  }

  get textContent(): string {
    return this.data;
  }
}

type SvgNode = SvgElement | SvgText;

interface SimpleSelector {
  tag: string | null;
  classes: string[];
}

const SELECTOR = /^([A-Za-z][\w-]*|\*)?((?:\.[\w-]+)*)$/;

function parseSelector(selector: string): SimpleSelector[] {
  return selector.split(',').map((part) => {
    const match = SELECTOR.exec(part.trim());
    if (match === null || part.trim() === '') {
      throw new GraphError(`svg-dom supports only tag and class selectors, not ${JSON.stringify(selector)}`);
    }
    const tag = match[1] === undefined || match[1] === '*' ? null : match[1];
    const classes = (match[2] ?? '').split('.').filter((c) => c !== '');
    return { tag, classes };
  });
}

function matchesAny(element: SvgElement, selectors: readonly SimpleSelector[]): boolean {
  const classes = (element.getAttribute('class') ?? '').split(/\s+/);
  return selectors.some(
    (s) => (s.tag === null || s.tag === element.localName) && s.classes.every((c) => classes.includes(c)),
  );
}

function ancestry(node: SvgNode): SvgNode[] {
  const path: SvgNode[] = [];
  for (let current: SvgNode | null = node; current !== null; current = current.parentNode)
    path.unshift(current);
  return path;
}

export class SvgElement {
  readonly nodeType = 1;
  readonly ownerDocument: SvgDocument;
  readonly namespaceURI: string;
  readonly localName: string;
  parentNode: SvgElement | null = null;
  readonly childNodes: SvgNode[] = [];
  readonly #attributes = new Map<string, string>();

  constructor(ownerDocument: SvgDocument, namespaceURI: string, localName: string) {
    this.ownerDocument = ownerDocument;
    this.namespaceURI = namespaceURI;
    this.localName = localName;
  }

  get tagName(): string {
    return this.localName;
  }

  get children(): SvgElement[] {
    return this.childNodes.filter((node): node is SvgElement => node instanceof SvgElement);
  }

  get firstChild(): SvgNode | null {
    return this.childNodes[0] ?? null;
  }

  get nextSibling(): SvgNode | null {
    const siblings = this.parentNode?.childNodes;
    return siblings?.[siblings.indexOf(this) + 1] ?? null;
  }

  get previousSibling(): SvgNode | null {
    const siblings = this.parentNode?.childNodes;
    return siblings?.[siblings.indexOf(this) - 1] ?? null;
  }

  setAttribute(name: string, value: unknown): void {
    this.#attributes.set(name, String(value));
  }

  setAttributeNS(_namespace: string | null, name: string, value: unknown): void {
    this.setAttribute(name, value);
  }

  getAttribute(name: string): string | null {
    return this.#attributes.get(name) ?? null;
  }

  getAttributeNS(_namespace: string | null, name: string): string | null {
    return this.getAttribute(name);
  }

  hasAttribute(name: string): boolean {
    return this.#attributes.has(name);
  }

  removeAttribute(name: string): void {
    this.#attributes.delete(name);
  }

  removeAttributeNS(_namespace: string | null, name: string): void {
    this.removeAttribute(name);
  }

  get attributeNames(): string[] {
    return [...this.#attributes.keys()];
  }

  insertBefore<T extends SvgNode>(child: T, reference: SvgNode | null): T {
    if (child instanceof SvgElement && ancestry(this).includes(child)) {
      throw new GraphError('svg-dom: cannot insert an element into itself');
    }
    child.parentNode?.removeChild(child);
    const at = reference === null ? -1 : this.childNodes.indexOf(reference);
    if (reference !== null && at < 0) throw new GraphError('svg-dom: the reference node is not a child');
    if (at < 0) this.childNodes.push(child);
    else this.childNodes.splice(at, 0, child);
    child.parentNode = this;
    return child;
  }

  appendChild<T extends SvgNode>(child: T): T {
    return this.insertBefore(child, null);
  }

  removeChild<T extends SvgNode>(child: T): T {
    const at = this.childNodes.indexOf(child);
    if (at < 0) throw new GraphError('svg-dom: not a child of this element');
    this.childNodes.splice(at, 1);
    child.parentNode = null;
    return child;
  }

  get textContent(): string {
    return this.childNodes.map((node) => node.textContent).join('');
  }

  set textContent(value: unknown) {
    for (const node of this.childNodes) node.parentNode = null;
    this.childNodes.length = 0;
    const text = value === null || value === undefined ? '' : String(value);
    if (text !== '') this.appendChild(new SvgText(text));
  }

  matches(selector: string): boolean {
    return matchesAny(this, parseSelector(selector));
  }

  querySelectorAll(selector: string): SvgElement[] {
    const selectors = parseSelector(selector);
    const found: SvgElement[] = [];
    const visit = (element: SvgElement): void => {
      for (const child of element.children) {
        if (matchesAny(child, selectors)) found.push(child);
        visit(child);
      }
    };
    visit(this);
    return found;
  }

  querySelector(selector: string): SvgElement | null {
    return this.querySelectorAll(selector)[0] ?? null;
  }

  /** Enough for d3's selection.order(): PRECEDING or FOLLOWING within one tree. */
  compareDocumentPosition(other: SvgNode): number {
    const mine = ancestry(this);
    const theirs = ancestry(other);
    let depth = 0;
    while (depth < mine.length && depth < theirs.length && mine[depth] === theirs[depth]) depth++;
    const a = mine[depth];
    const b = theirs[depth];
    // One contains the other: the ancestor comes first in document order.
    if (a === undefined) return DOCUMENT_POSITION_FOLLOWING;
    if (b === undefined) return DOCUMENT_POSITION_PRECEDING;
    const siblings = a.parentNode?.childNodes ?? [];
    return siblings.indexOf(b) > siblings.indexOf(a)
      ? DOCUMENT_POSITION_FOLLOWING
      : DOCUMENT_POSITION_PRECEDING;
  }
}

export class SvgDocument {
  readonly nodeType = 9;
  readonly documentElement: SvgElement;

  constructor() {
    this.documentElement = this.createElementNS(SVG_NS, 'svg');
  }

  createElementNS(namespaceURI: string, localName: string): SvgElement {
    return new SvgElement(this, namespaceURI, localName);
  }

  createTextNode(data: string): SvgText {
    return new SvgText(data);
  }
}

const ATTRIBUTE_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '"': '&quot;',
  '<': '&lt;',
  '>': '&gt;',
  '\t': '&#x9;',
  '\n': '&#xA;',
  '\r': '&#xD;',
};
const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

function escapeAttribute(value: string): string {
  return xmlSafe(value).replace(/[&"<>\t\n\r]/g, (char) => ATTRIBUTE_ESCAPES[char] ?? char);
}

function escapeText(value: string): string {
  return xmlSafe(value).replace(/[&<>]/g, (char) => TEXT_ESCAPES[char] ?? char);
}

function serializeNode(node: SvgNode, parts: string[], root: boolean): void {
  if (node instanceof SvgText) {
    parts.push(escapeText(node.data));
    return;
  }
  parts.push(`<${node.localName}`);
  if (root) parts.push(` xmlns="${node.namespaceURI}"`);
  for (const name of node.attributeNames) {
    if (name !== 'xmlns') parts.push(` ${name}="${escapeAttribute(node.getAttribute(name) ?? '')}"`);
  }
  if (node.childNodes.length === 0) {
    parts.push('/>');
    return;
  }
  parts.push('>');
  for (const child of node.childNodes) serializeNode(child, parts, false);
  parts.push(`</${node.localName}>`);
}

/**
 * The element as XML, like XMLSerializer.serializeToString for an SVG tree
 * (the root declares the namespace). Characters XML cannot carry become U+FFFD.
 */
export function serializeSvg(element: SvgElement): string {
  const parts: string[] = [];
  serializeNode(element, parts, true);
  return parts.join('');
}
