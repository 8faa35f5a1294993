import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * The interactive page's browser bundle: the page code with d3 and
 * d3-graphviz, whose Graphviz WebAssembly is inlined in @hpcc-js/wasm's
 * build, so the page loads nothing from anywhere but the graph API (no CDN:
 * clusters may have no internet). The graph API serves outDir/graph-page.js
 * under /assets/; it looks for it in graph-page/ beside graph-api.js.
 */
const APP = fileURLToPath(new URL('page/app.ts', import.meta.url));

export async function buildGraphPageAssets(outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [APP],
    outfile: join(outDir, 'graph-page.js'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    // Browsers with WebAssembly, ES2022 and CSP 'wasm-unsafe-eval'.
    target: ['chrome103', 'firefox102', 'safari16'],
    minify: true,
    sourcemap: true,
    // d3 and d3-graphviz licences travel with the code they cover.
    legalComments: 'eof',
    logLevel: 'warning',
  });
}
