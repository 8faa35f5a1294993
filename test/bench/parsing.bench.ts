/** Archive parsing: a real rrul archive, and a synthetic hour of rrul (the longest test allowed). */
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { parseArchive } from '../../layers/flent/archive.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';
import { line } from './report.ts';

/** An hour of rrul at flent's 0.2 s step: 18 000 points in each of 18 series. */
function syntheticHourOfRrul(template: ReturnType<typeof parseArchive>): Buffer {
  const points = 18_000;
  const x = Array.from({ length: points }, (_, i) => i * 0.2);
  const results: Record<string, Array<number | null>> = {};
  const raw: Record<string, Array<Record<string, number>>> = {};
  for (const name of Object.keys(template.results)) {
    results[name] = x.map((_, i) => (i % 97 === 0 ? null : 1 + (i % 50) / 10));
    if (template.raw_values[name]?.length) {
      raw[name] = x.map((t, i) => ({ t: 1.8e9 + t, val: 1 + (i % 50) / 10, seq: i }));
    }
  }
  const document = {
    ...template,
    metadata: { ...template.metadata, LENGTH: 3600, TOTAL_LENGTH: 3600 },
    x_values: x,
    results,
    raw_values: raw,
  };
  return gzipSync(JSON.stringify(document));
}

export default async function parsing(): Promise<void> {
  const real = await readFile(new URL('../fixtures/flent/rrul.flent.gz', import.meta.url));
  const runs = 200;
  let start = performance.now();
  for (let i = 0; i < runs; i++) summarizeArchive(parseArchive(real));
  line('rrul 3 s archive: parse + summary', `${((performance.now() - start) / runs).toFixed(2)} ms each`);

  const hour = syntheticHourOfRrul(parseArchive(real));
  line('rrul 1 h archive (synthetic), compressed', `${(hour.length / 1024 / 1024).toFixed(1)} MiB`);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  start = performance.now();
  const summary = summarizeArchive(parseArchive(hour));
  const elapsed = performance.now() - start;
  const rssAfter = process.memoryUsage().rss;
  line('rrul 1 h archive: parse + summary', `${elapsed.toFixed(0)} ms`);
  line(
    'rrul 1 h archive: resident memory growth',
    `${((rssAfter - rssBefore) / 1024 / 1024).toFixed(0)} MiB`,
  );
  line('rrul 1 h archive: series summarised', String(Object.keys(summary.series).length));
}
