import { runChecked } from '../../layers/core/process.ts';

/** Flent's own figures for an archive (`flent -i FILE -f stats`), in base units. */
export interface FlentStatsFigures {
  min: number;
  median: number;
  p99: number;
  max: number;
  mean: number;
}

const FACTORS: Record<string, number> = {
  ms: 1e-3,
  'Mbits/s': 1e6,
  'Kbits/s': 1e3,
  'Gbits/s': 1e9,
  'bits/s': 1,
};
const FIELDS: Record<string, keyof FlentStatsFigures> = {
  'Min:': 'min',
  'Median:': 'median',
  '99th %:': 'p99',
  'Max:': 'max',
  'Mean:': 'mean',
};

export async function flentStats(file: string): Promise<Record<string, FlentStatsFigures>> {
  const output = await runChecked(['flent', '-i', file, '-f', 'stats'], (m) => new Error(m));
  const stats: Record<string, Partial<FlentStatsFigures>> = {};
  let current: Partial<FlentStatsFigures> | undefined;
  for (const line of output.split('\n')) {
    const series = /^ (\S.*):$/.exec(line);
    if (series?.[1] !== undefined) {
      current = {};
      stats[series[1]] = current;
      continue;
    }
    const field = /^ {2}(Min:|Median:|99th %:|Max:|Mean:)\s+(-?[\d.]+(?:e[-+]?\d+)?)\s*(\S*)/.exec(line);
    if (field && current) {
      const [, label, value, unit] = field;
      const factor = FACTORS[unit ?? ''] ?? 1;
      current[FIELDS[label as string] as keyof FlentStatsFigures] = Number(value) * factor;
    }
  }
  return Object.fromEntries(
    Object.entries(stats).filter(
      (entry): entry is [string, FlentStatsFigures] => entry[1].mean !== undefined,
    ),
  );
}

/** Relative difference, with an absolute floor so that zeros compare sanely. */
export function relativeDifference(a: number, b: number): number {
  const scale = Math.max(Math.abs(a), Math.abs(b));
  return scale < 1e-12 ? 0 : Math.abs(a - b) / scale;
}
