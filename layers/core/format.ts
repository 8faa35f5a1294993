/**
 * Human-readable figures for terminals, tooltips and legends. Machine output
 * (JSON, GraphML, metrics) stays in base units: seconds, bit/s, ratios.
 */

/** SI prefixes of bit rates, largest first. */
const BIT_PREFIXES: ReadonlyArray<readonly [divisor: number, prefix: string]> = [
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

function bitPrefix(value: number): readonly [number, string] {
  return BIT_PREFIXES.find(([divisor]) => Math.abs(value) >= divisor) ?? [1, ''];
}

/** "940.00 Mbit/s". */
export function formatBitsPerSecond(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  const [divisor, prefix] = bitPrefix(value);
  return divisor === 1 ? `${value.toFixed(0)} bit/s` : `${(value / divisor).toFixed(2)} ${prefix}bit/s`;
}

/** "0.400 ms", "1.20 s". */
export function formatSeconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  if (Math.abs(value) < 1) return `${(value * 1e3).toFixed(3)} ms`;
  return `${value.toFixed(2)} s`;
}

/** "1.0 %". */
export function formatRatio(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  return `${(value * 100).toFixed(1)} %`;
}

/** A duration in a few characters: "45 s", "12 min", "3.5 h", "2.0 d". */
export function formatAge(seconds: number | null): string {
  if (seconds === null) return 'never';
  const abs = Math.abs(seconds);
  if (abs < 120) return `${seconds.toFixed(0)} s`;
  if (abs < 7200) return `${(seconds / 60).toFixed(0)} min`;
  if (abs < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

/*
 * Compact forms, for where a few characters must do (legend ticks, matrix
 * cells): two significant digits at most, no trailing zeros.
 */

/** "0", "0.25", "2.5", "12", "940". */
export function compactNumber(value: number): string {
  if (value === 0) return '0';
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1).replace(/\.0$/, '');
  return String(Number(value.toPrecision(2)));
}

/** "100 µs", "5 ms", "2 s". */
export function compactSeconds(seconds: number): string {
  if (seconds < 1e-3) return `${compactNumber(seconds * 1e6)} µs`;
  if (seconds < 1) return `${compactNumber(seconds * 1e3)} ms`;
  return `${compactNumber(seconds)} s`;
}

/** "10 Mbit/s". */
export function compactBitsPerSecond(bits: number): string {
  const [divisor, prefix] = bitPrefix(bits);
  return `${compactNumber(bits / divisor)} ${prefix}bit/s`;
}

/** "940M", "2.5G": a bit rate without its unit. */
export function compactBits(bits: number): string {
  const [divisor, prefix] = bitPrefix(bits);
  return `${compactNumber(bits / divisor)}${prefix}`;
}

/** "5 %"; "5%" with `space` false. */
export function compactPercent(ratio: number, space = true): string {
  return `${compactNumber(ratio * 100)}${space ? ' ' : ''}%`;
}

/** A plain left-aligned text table. */
export function renderTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
