import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type OnResolveArgs, type Plugin, type PluginBuild } from 'esbuild';
import { buildGraphPageAssets } from '../../functions/graph-api/assets.ts';

/**
 * Bundles every entry functions/<name>/main.ts into dist/<name>.js: one
 * minified ESM file per function with its source map and esbuild metafile
 * (dist/<name>.meta.json, for finding dead weight).
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const functionsDir = join(root, 'functions');
const defaultOutDir = join(root, 'dist');

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

/*
 * Dead weight the metafiles showed, left out at build time (sizes minified).
 * When the code a rule relies on moves, the rule either fails the build (a
 * slim index or a named import that no longer resolves) or stops applying
 * (the bundle grows back; `npm run bench` shows it). The bundles run against
 * real peers in the integration tests (a kube-apiserver, s3rver,
 * local-aws-sqs, the Pushgateway).
 *
 * 1. `import { z } from 'zod'` makes esbuild keep zod's whole namespace: all
 *    its locales and JSON Schema converters (~350 KB). Our sources are read
 *    with `import * as z from 'zod'` (the form zod 4 recommends), which keeps
 *    only what is used.
 * 2. A dynamic `import('pkg')` keeps all of pkg (the Kubernetes client:
 *    3 MB instead of 1 MB). For the packages in NAMED_DYNAMIC, the
 *    importer's one `const { A, B } = await import('pkg')` names what to
 *    keep; its return type stops other names being used (see
 *    layers/wiring/context.ts).
 * 3. The Kubernetes client's modules are side-effect free (as a package.json
 *    "sideEffects": false would say), so what it only re-exports (cp, exec,
 *    attach, port-forward: tar-fs, ws) drops out.
 * 4. CommonJS indexes that load everything get a slim index for their
 *    importers (SLIM_INDEXES): undici for the Kubernetes client (Agent,
 *    ProxyAgent, fetch; no mocks, WebSocket, EventSource, caches, cookies)
 *    and prom-client for our code (no default metrics, OpenTelemetry).
 * 5. An ES import of node:http makes Node build the module's ESM facade,
 *    which reads every export, and its WebSocket/MessageEvent getters load
 *    Node's own undici: ~25 ms of every cold start for nothing. Such imports
 *    go through require() instead (LAZY_BUILTINS).
 * 6. Two of undici's WASM HTTP/1 parsers are never used here (STUBS): milo
 *    (only with the opt-in `useMilo`) and llhttp without SIMD (a fallback for
 *    CPUs without WASM SIMD: every x86-64 and arm64 Node has it).
 */
const LAZY_BUILTINS = /^(node:)?http$/;
const NAMED_DYNAMIC = new Set(['@kubernetes/client-node']);
const KUBERNETES_CLIENT = '/node_modules/@kubernetes/client-node/dist/';
const ZOD_NAMED_IMPORT = /^import \{ z \} from 'zod';$/gm;

/** An index module put in place of a package's own, for importers under `for`. */
interface SlimIndex {
  for: (importer: string) => boolean;
  contents: string;
}
const ours = (importer: string): boolean => importer.startsWith(root) && !importer.includes('/node_modules/');
const SLIM_INDEXES: Record<string, SlimIndex> = {
  // What undici's index.js sets up for these three: the request API on every dispatcher.
  undici: {
    for: (importer) => importer.includes(KUBERNETES_CLIENT),
    contents: `
      import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
      import api from 'undici/lib/api/index.js';
      import fetchModule from 'undici/lib/web/fetch/index.js';
      Object.assign(Dispatcher.prototype, api);
      export { default as Agent } from 'undici/lib/dispatcher/agent.js';
      export { default as ProxyAgent } from 'undici/lib/dispatcher/proxy-agent.js';
      export function fetch(input, init) {
        return fetchModule.fetch(input, init);
      }`,
  },
  'prom-client': {
    for: ours,
    contents: `
      export { default as Registry } from 'prom-client/lib/registry.js';
      export { default as Counter } from 'prom-client/lib/counter.js';
      export { default as Gauge } from 'prom-client/lib/gauge.js';
      export { default as Histogram } from 'prom-client/lib/histogram.js';
      export { default as Summary } from 'prom-client/lib/summary.js';
      export { default as Pushgateway } from 'prom-client/lib/pushgateway.js';
      export { default as collectDefaultMetrics } from 'prom-client/lib/defaultMetrics.js';`,
  },
};
const STUBS: Array<{ path: RegExp; message: string }> = [
  {
    path: /\/node_modules\/undici\/lib\/milo\/(no-)?simd\.js$/,
    message: 'the milo HTTP parser of undici is not bundled (infra/build/bundle.ts): do not set useMilo',
  },
  {
    path: /\/node_modules\/undici\/lib\/llhttp\/llhttp-wasm\.js$/,
    message:
      'the non-SIMD HTTP parser of undici is not bundled (infra/build/bundle.ts): this CPU lacks WASM SIMD, or UNDICI_NO_WASM_SIMD=1 is set',
  },
];

/** `const { A, B } = await import('pkg')`: the names A, B, when the importer has exactly one. */
function dynamicImportNames(source: string, specifier: string): string[] | undefined {
  const quoted = specifier.replace(/[/.@-]/g, (c) => `\\${c}`);
  const found = [
    ...source.matchAll(
      new RegExp(`const \\{([\\w\\s,]+)\\}\\s*=\\s*await import\\(\\s*'${quoted}'\\s*\\);`, 'g'),
    ),
  ];
  const names = found.length === 1 ? found[0]?.[1] : undefined;
  return names
    ?.split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/** Resolves as esbuild would without this plugin. */
function resolveNormally(pluginBuild: PluginBuild, args: OnResolveArgs) {
  return pluginBuild.resolve(args.path, {
    importer: args.importer,
    kind: args.kind,
    resolveDir: args.resolveDir,
    pluginData: { normally: true },
  });
}

const leanPlugin: Plugin = {
  name: 'netmon-lean',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
      if (!ours(path)) return undefined;
      const source = await readFile(path, 'utf8');
      return { contents: source.replace(ZOD_NAMED_IMPORT, "import * as z from 'zod';"), loader: 'ts' };
    });
    const again = (args: OnResolveArgs): boolean =>
      (args.pluginData as { normally?: true } | undefined)?.normally === true;
    pluginBuild.onResolve({ filter: LAZY_BUILTINS }, ({ path, kind }) =>
      kind === 'import-statement' ? { path, namespace: 'netmon-builtin' } : undefined,
    );
    pluginBuild.onResolve({ filter: /^[@\w]/ }, async ({ path, importer, kind, resolveDir }) => {
      if (kind !== 'dynamic-import' || !NAMED_DYNAMIC.has(path)) return undefined;
      const names = dynamicImportNames(await readFile(importer, 'utf8'), path);
      if (names === undefined) {
        return { errors: [{ text: `import('${path}') only as: const { A, B } = await import('${path}');` }] };
      }
      return {
        path: `${path} from ${relative(root, importer)}`,
        namespace: 'netmon-named',
        pluginData: { contents: `export { ${names.join(', ')} } from '${path}';`, resolveDir },
      };
    });
    pluginBuild.onResolve({ filter: /^[@\w]/ }, ({ path, importer, resolveDir }) => {
      const slim = SLIM_INDEXES[path];
      if (!slim?.for(importer)) return undefined;
      return { path, namespace: 'netmon-slim', pluginData: { contents: slim.contents, resolveDir } };
    });
    pluginBuild.onResolve({ filter: /^\./ }, ({ path, resolveDir }) => {
      const stub = STUBS.find((s) => s.path.test(join(resolveDir, path)));
      return stub && { path: join(resolveDir, path), namespace: 'netmon-stub', pluginData: stub };
    });
    // Inside the Kubernetes client, and the parts a slim index names: side-effect free.
    pluginBuild.onResolve({ filter: /.*/ }, async (args) => {
      if (again(args) || (args.namespace !== 'netmon-slim' && !args.importer.includes(KUBERNETES_CLIENT))) {
        return undefined;
      }
      const resolved = await resolveNormally(pluginBuild, args);
      if (resolved.errors.length > 0 || resolved.path.endsWith('/polyfill.js')) return resolved;
      return { ...resolved, sideEffects: false };
    });
    for (const namespace of ['netmon-named', 'netmon-slim']) {
      pluginBuild.onLoad({ filter: /.*/, namespace }, ({ pluginData }) => ({
        ...(pluginData as { contents: string; resolveDir: string }),
        loader: 'js',
      }));
    }
    pluginBuild.onLoad({ filter: /.*/, namespace: 'netmon-builtin' }, ({ path }) => ({
      contents: `module.exports = require(${JSON.stringify(path.startsWith('node:') ? path : `node:${path}`)});`,
      loader: 'js',
    }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'netmon-stub' }, ({ pluginData }) => ({
      contents: `throw new Error(${JSON.stringify((pluginData as { message: string }).message)});`,
      loader: 'js',
    }));
  },
};

export interface Bundle {
  name: string;
  /** The bundle's path (relative to the repository when inside it). */
  file: string;
  bytes: number;
}

/**
 * Builds every function into `outDir` (default dist/). Next to the bundles
 * goes a package.json with "type": "module": the Lambda Node.js runtime
 * (like Node) loads a `.js` file as ESM only with one, and each function's
 * zip (serverless.yml) holds its bundle and this file.
 *
 * Each file is written under a temporary name and renamed into place, and
 * only then are files of an earlier build that this one did not make
 * removed: a program started from dist/ meanwhile (another test run) finds
 * the old bundle or the new one, never none.
 */
export async function bundleAll(options: { outDir?: string } = {}): Promise<Bundle[]> {
  const outDir = options.outDir ?? defaultOutDir;
  await mkdir(outDir, { recursive: true });
  const written = new Set<string>();
  const put = async (path: string, contents: string | Uint8Array): Promise<void> => {
    const temporary = `${path}.${process.pid}.tmp`;
    // Bundles keep the executable bit esbuild gives files with a #! line.
    await writeFile(temporary, contents, { mode: path.endsWith('.js') ? 0o755 : 0o644 });
    await rename(temporary, path);
    written.add(basename(path));
  };
  await put(join(outDir, 'package.json'), `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
  const results: Bundle[] = [];
  for (const { name, entry } of await entries()) {
    const outfile = join(outDir, `${name}.js`);
    const result = await bundleOne(entry, outfile);
    for (const output of result.outputFiles) await put(output.path, output.contents);
    await put(join(outDir, `${name}.meta.json`), JSON.stringify(result.metafile));
    const file = relative(root, outfile);
    results.push({ name, file: file.startsWith('..') ? outfile : file, bytes: (await stat(outfile)).size });
  }
  // The graph page's browser bundle, beside graph-api.js where the server looks for it; swapped in whole.
  const pageDir = join(outDir, 'graph-page');
  const pageTmp = `${pageDir}.${process.pid}.tmp`;
  await buildGraphPageAssets(pageTmp);
  await rm(pageDir, { recursive: true, force: true });
  await rename(pageTmp, pageDir);
  written.add('graph-page');
  for (const name of await readdir(outDir)) {
    if (!written.has(name) && !name.endsWith('.tmp'))
      await rm(join(outDir, name), { recursive: true, force: true });
  }
  return results;
}

/**
 * One function's bundle as bundleAll builds it, into `outDir` with the
 * package.json that makes it ESM, and without the graph page: for a bench
 * that runs the code as it is deployed (test/bench/graph-api.bench.ts).
 */
export async function bundleFunction(name: string, outDir: string): Promise<Bundle> {
  const entry = join(functionsDir, name, 'main.ts');
  const outfile = join(outDir, `${name}.js`);
  await mkdir(outDir, { recursive: true });
  const result = await bundleOne(entry, outfile);
  for (const output of result.outputFiles) {
    await writeFile(output.path, output.contents, { mode: output.path.endsWith('.js') ? 0o755 : 0o644 });
  }
  await writeFile(join(outDir, 'package.json'), `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
  return { name, file: outfile, bytes: (await stat(outfile)).size };
}

/** One function's bundle, source map and legal notices, in memory. */
function bundleOne(entry: string, outfile: string) {
  return build({
    entryPoints: [entry],
    outfile,
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // ESM builds first (the AWS SDK's dist-es tree-shakes; its dist-cjs does not).
    mainFields: ['module', 'main'],
    // The AWS SDK is bundled, not taken from the runtime: docs/adr/0003-aws-sdk-in-bundles.md.
    external: [],
    minify: true,
    sourcemap: true,
    // Stack traces need the mappings, not a copy of every source file.
    sourcesContent: false,
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
    plugins: [leanPlugin],
    // CommonJS dependencies inside an ESM bundle still call require().
    banner: {
      js: "import { createRequire as __netmonCreateRequire } from 'node:module'; const require = __netmonCreateRequire(import.meta.url);",
    },
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const { file, bytes } of await bundleAll()) {
    process.stdout.write(`${file}  ${(bytes / 1e6).toFixed(2)} MB\n`);
  }
}
