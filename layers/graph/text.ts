/**
 * Text that ends up in XML (SVG, GraphML): XML 1.0 forbids most C0 control
 * characters, U+FFFE, U+FFFF and lone surrogates, even as character
 * references, so no escaping can carry them.
 */

function isXmlChar(codePoint: number): boolean {
  if (codePoint < 0x20) return codePoint === 0x09 || codePoint === 0x0a || codePoint === 0x0d;
  if (codePoint >= 0xd800 && codePoint <= 0xdfff) return false; // a lone surrogate
  return codePoint !== 0xfffe && codePoint !== 0xffff;
}

export function isXmlSafe(text: string): boolean {
  for (const char of text) if (!isXmlChar(char.codePointAt(0) ?? 0)) return false;
  return true;
}

/** Replaces what XML cannot carry with U+FFFD, for display text where identity does not matter. */
export function xmlSafe(text: string): string {
  if (isXmlSafe(text)) return text;
  let out = '';
  for (const char of text) out += isXmlChar(char.codePointAt(0) ?? 0) ? char : '\uFFFD';
  return out;
}

/**
 * Rough width of a line of text in a sans-serif font, in ems (wide East
 * Asian characters and emoji count double): enough to size margins and
 * rings, never to place glyphs.
 */
export function textEms(line: string): number {
  let em = 0;
  for (const char of line) em += (char.codePointAt(0) ?? 0) >= 0x1100 ? 1 : 0.62;
  return em;
}

/**
 * Advance widths of DejaVu Sans (regular and bold) for U+0020..U+007E, in
 * thousandths of an em, as Chromium measures them. The graph is drawn in
 * DejaVu Sans: Graphviz knows its metrics and Debian's browsers have the
 * font, so boxes fit their text; viewers without it fall back to narrower
 * fonts.
 */
const DEJAVU_SANS = {
  regular:
    '318,401,460,838,636,950,780,275,390,390,500,838,318,361,318,337,636,636,636,636,636,636,636,636,636,636,337,337,838,838,838,531,1000,684,686,698,770,632,575,775,752,295,295,656,557,863,748,787,603,787,695,635,611,732,684,989,685,611,685,390,337,390,838,500,500,613,635,550,635,615,352,635,634,278,278,579,278,974,634,612,635,635,411,521,392,634,592,818,592,592,525,636,337,636,838',
  bold: '348,456,521,838,696,1002,872,306,457,457,523,838,380,415,380,365,696,696,696,696,696,696,696,696,696,696,400,400,838,838,838,580,1000,774,762,734,830,683,683,821,837,372,372,775,637,995,837,850,733,850,770,720,682,812,774,1103,771,724,725,457,365,457,838,500,500,675,716,593,716,678,435,716,712,343,343,665,343,1042,712,687,716,716,493,595,478,712,652,924,645,652,582,712,365,712,838',
} as const;

const ADVANCES = {
  regular: DEJAVU_SANS.regular.split(',').map(Number),
  bold: DEJAVU_SANS.bold.split(',').map(Number),
};

/** The font every text of the node-link graphs is set in (see DEJAVU_SANS). */
export const GRAPH_FONT = 'DejaVu Sans';

/**
 * Width in points of one line of text in GRAPH_FONT at `fontSize` points:
 * exact for ASCII, an upper estimate for other characters (wide East Asian
 * characters and emoji 1 em, the rest 0.84 em, DejaVu's widest Latin letters).
 */
export function textWidth(line: string, fontSize: number, bold = false): number {
  const table = bold ? ADVANCES.bold : ADVANCES.regular;
  let thousandths = 0;
  for (const char of line) {
    const code = char.codePointAt(0) ?? 0;
    thousandths += table[code - 0x20] ?? (code >= 0x1100 ? 1000 : 840);
  }
  return (thousandths * fontSize) / 1000;
}

/**
 * The dot-separated ending every name shares (".eu-west-1.compute.internal"),
 * with its leading dot; '' when there is none or fewer than two names. The
 * pictures leave it out of the boxes and say so in the legend.
 */
export function sharedSuffix(names: readonly string[]): string {
  if (names.length < 2) return '';
  const [first, ...rest] = names.map((name) => name.split('.'));
  if (first === undefined) return '';
  let shared = 0;
  while (
    shared < first.length - 1 &&
    rest.every(
      (parts) =>
        shared < parts.length - 1 && parts[parts.length - 1 - shared] === first[first.length - 1 - shared],
    )
  )
    shared++;
  return shared === 0 ? '' : `.${first.slice(first.length - shared).join('.')}`;
}

/** At most `max` characters: a longer text keeps its start and end around an ellipsis. */
export function shortened(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  const head = Math.ceil((max - 1) / 2);
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - (max - 1 - head)).join('')}`;
}
