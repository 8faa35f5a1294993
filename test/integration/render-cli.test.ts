import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphFromJson, toGraphJson } from '../../layers/graph/json.ts';
import { sampleModel } from '../fixtures/graph/models.ts';
import { netmon } from '../helpers/cli.ts';

/** `netmon render --from-json`, run as users run it: the built CLI bundle in a child process. */

let dir: string;
let graphJson: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-render-cli-'));
  graphJson = join(dir, 'graph.json');
  await writeFile(graphJson, toGraphJson(sampleModel()));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('netmon render --from-json', () => {
  it.each([
    ['svg', [], (text: string) => expect(XMLValidator.validate(text)).toBe(true), '<svg'],
    ['dot', [], (text: string) => expect(text.startsWith('digraph "netmon" {')).toBe(true), 'dashed'],
    ['graphml', [], (text: string) => expect(XMLValidator.validate(text)).toBe(true), '<graphml'],
    ['json', [], (text: string) => expect(graphFromJson(text)).toEqual(sampleModel()), '"version": 1'],
    [
      'matrix-svg',
      ['--metric', 'throughput'],
      (text: string) => expect(XMLValidator.validate(text)).toBe(true),
      'netmon-matrix-throughput',
    ],
  ] as const)('writes --format %s to -o FILE', async (format, extra, check, marker) => {
    const out = join(dir, `out-${format}`);
    const result = await netmon([
      'render',
      '--from-json',
      graphJson,
      '--format',
      format,
      ...extra,
      '-o',
      out,
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${out}\n`);
    const text = await readFile(out, 'utf8');
    check(text);
    expect(text).toContain(marker);
  });

  it('prints to stdout by default: the SVG graph, or the latency matrix', async () => {
    const svg = await netmon(['render', '--from-json', graphJson]);
    expect(svg.exitCode, svg.stderr).toBe(0);
    expect(svg.stdout).toContain('class="edge netmon&#45;edge netmon&#45;failed"');
    const matrix = await netmon(['render', '--from-json', graphJson, '--format', 'matrix-svg']);
    expect(matrix.stdout).toContain('netmon-matrix-latency');
  });

  it.each([
    [
      ['--format', 'pdf'],
      '--format: "pdf" is not valid; expected one of svg, dot, graphml, json, matrix-svg',
    ],
    [
      ['--format', 'matrix-svg', '--metric', 'jitter'],
      '--metric: "jitter" is not valid; expected one of latency, throughput, loss',
    ],
    [['--format', 'svg', '--metric', 'loss'], '--metric: "loss" is not valid; expected no --metric'],
  ])('refuses %j, naming what is valid (exit 2)', async (args, message) => {
    const result = await netmon(['render', '--from-json', graphJson, ...args]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('names the field of a bad graph.json, and the file that cannot be read', async () => {
    const bad = join(dir, 'bad.json');
    const doc = JSON.parse(toGraphJson(sampleModel()));
    doc.edges[0].latency.median = '1 ms';
    await writeFile(bad, JSON.stringify(doc));
    const result = await netmon(['render', '--from-json', bad, '--format', 'dot']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      'netmon: edges[0].latency.median: "1 ms" is not valid; expected a finite number >= 0 (seconds) or null',
    );
    const missing = await netmon(['render', '--from-json', join(dir, 'nope.json')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(
      /--from-json: ".*nope\.json" is not valid; expected a readable graph\.json file/,
    );
  });
});
