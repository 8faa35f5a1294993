/** Human-readable figures for terminals. Machine output (JSON) stays in base units. */

export function formatBitsPerSecond(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  if (Math.abs(value) >= 1e9) return `${(value / 1e9).toFixed(2)} Gbit/s`;
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(2)} Mbit/s`;
  if (Math.abs(value) >= 1e3) return `${(value / 1e3).toFixed(2)} kbit/s`;
  return `${value.toFixed(0)} bit/s`;
}

export function formatSeconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  if (Math.abs(value) < 1) return `${(value * 1e3).toFixed(3)} ms`;
  return `${value.toFixed(2)} s`;
}

export function formatRatio(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  return `${(value * 100).toFixed(1)} %`;
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
