/**
 * `npm run bench`: figures that matter to users, printed, not asserted.
 * Each test/bench/*.bench.ts is a section (its default export), run in name
 * order; `npm run bench -- NAME...` runs only the sections named.
 */
import { readdir } from 'node:fs/promises';

const here = new URL('.', import.meta.url);
const only = process.argv.slice(2);
const sections = (await readdir(here))
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => only.length === 0 || only.includes(file.replace(/\.bench\.ts$/, '')))
  .sort();
for (const file of sections) {
  process.stdout.write(`# ${file.replace(/\.bench\.ts$/, '')}\n`);
  const section = (await import(new URL(file, here).href)) as { default: () => Promise<void> };
  await section.default();
}
