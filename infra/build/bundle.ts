import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Bundles every entry functions/<name>/main.ts into dist/<name>.js: one
 * minified ESM file per function with its source map and esbuild metafile
 * (dist/<name>.meta.json, for finding dead weight).
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const functionsDir = join(root, 'functions');
const outDir = join(root, 'dist');

async function entries(): Promise<Array<{ name: string; entry: string }>> {
  const found: Array<{ name: string; entry: string }> = [];
  for (const name of (await readdir(functionsDir)).sort()) {
    const entry = join(functionsDir, name, 'main.ts');
    if (
      await stat(entry).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      found.push({ name, entry });
  }
  return found;
}

export async function bundleAll(): Promise<Array<{ name: string; file: string; bytes: number }>> {
  await rm(outDir, { recursive: true, force: true });
  const results: Array<{ name: string; file: string; bytes: number }> = [];
  for (const { name, entry } of await entries()) {
    const outfile = join(outDir, `${name}.js`);
    const result = await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      minify: true,
      sourcemap: true,
      metafile: true,
      legalComments: 'linked',
      logLevel: 'warning',
      // CommonJS dependencies inside an ESM bundle still call require().
      banner: {
        js: "import { createRequire as __netmonCreateRequire } from 'node:module'; const require = __netmonCreateRequire(import.meta.url);",
      },
    });
    await writeFile(join(outDir, `${name}.meta.json`), JSON.stringify(result.metafile));
    const bytes = (await stat(outfile)).size;
    results.push({ name, file: relative(root, outfile), bytes });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const { file, bytes } of await bundleAll()) {
    process.stdout.write(`${file}  ${(bytes / 1024).toFixed(0)} KiB\n`);
  }
}
