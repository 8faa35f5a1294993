import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The direction of dependencies DESIGN.md asks for, checked on every import
 * (static and dynamic) of the product's TypeScript: functions/ -> wiring ->
 * pipeline -> adapters -> core -> domain, no cycles, no test code.
 */
const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const PRODUCT = ['layers', 'functions', 'infra'];

/** Lower ranks are lower layers; a file may import its own layer or lower ranks only. */
const RANKS: Record<string, number> = {
  'layers/domain': 0,
  'layers/core': 1,
  'layers/flent': 2,
  'layers/store': 2,
  'layers/queue': 2,
  'layers/metrics': 2,
  'layers/graph': 3,
  'layers/local-runner': 3,
  'layers/k8s': 3,
  'layers/pipeline': 4,
  'layers/graph-api': 5,
  'layers/wiring': 6,
  // Tools the product runs: the embedded stack, the simulated cluster (the demo, `netmon rig`), the
  // Flent image's build; the local real cluster is made of them.
  'infra/local-stack': 6,
  'infra/rig': 6,
  'infra/images': 6,
  'infra/cluster': 7,
  functions: 8,
  // The build bundles the functions.
  'infra/build': 9,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Repository-relative paths of the files a file imports (only our own files: relative specifiers). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [
    ...text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gms),
    ...text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g),
  ].map((match) => match[1] as string);
  return specifiers.map((specifier) => relative(ROOT, resolve(ROOT, dirname(file), specifier)));
}

function layerOf(file: string): string {
  if (file.startsWith('layers/') || file.startsWith('infra/')) return file.split('/').slice(0, 2).join('/');
  return file.split('/')[0] as string;
}

const files = PRODUCT.flatMap(sourceFiles);
const graph = new Map(files.map((file) => [file, importsOf(file)]));

describe('architecture', () => {
  it('every product folder has a rank', () => {
    expect(files.length).toBeGreaterThan(50);
    expect([...new Set(files.map(layerOf))].filter((layer) => RANKS[layer] === undefined)).toEqual([]);
  });

  it('product code never imports test/', () => {
    const offending = [...graph].flatMap(([file, imports]) =>
      imports.filter((target) => target.startsWith('test/')).map((target) => `${file} -> ${target}`),
    );
    expect(offending).toEqual([]);
  });

  it('the domain leaf imports nothing of ours outside itself', () => {
    const offending = [...graph]
      .filter(([file]) => layerOf(file) === 'layers/domain')
      .flatMap(([file, imports]) =>
        imports.filter((t) => layerOf(t) !== 'layers/domain').map((t) => `${file} -> ${t}`),
      );
    expect(offending).toEqual([]);
  });

  it('imports point down: no layer reaches a higher one', () => {
    const offending = [...graph].flatMap(([file, imports]) => {
      const rank = RANKS[layerOf(file)] ?? -1;
      return imports
        .filter((target) => layerOf(target) !== layerOf(file) && (RANKS[layerOf(target)] ?? 99) >= rank)
        .map((target) => `${file} (${rank}) -> ${target} (${RANKS[layerOf(target)]})`);
    });
    expect(offending).toEqual([]);
  });

  it('no import cycles between files', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
