import { percentileSorted } from '../../layers/core/stats.ts';

/** Shared by the bench sections: how figures are computed and printed. */
export function median(values: number[]): number {
  return (
    percentileSorted(
      [...values].sort((a, b) => a - b),
      50,
    ) ?? Number.NaN
  );
}

export function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(44)} ${value}\n`);
}
