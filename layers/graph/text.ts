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
