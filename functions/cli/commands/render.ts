import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { errorLine, ValidationError } from '../../../layers/core/errors.ts';
import { MATRIX_METRICS, parseMatrixMetric } from '../../../layers/graph/matrix.ts';

/**
 * `netmon render --from-json graph.json --format F [--metric M] [-o FILE]`:
 * one view of a stored graph (graphs/<set>/graph.json, or the graph API's
 * /graph.json), drawn offline. The graph layer (Graphviz WebAssembly, d3) is
 * loaded only when the command runs, so that other commands start fast.
 */

export const RENDER_FORMATS = ['svg', 'dot', 'graphml', 'json', 'matrix-svg'] as const;
export type RenderFormat = (typeof RENDER_FORMATS)[number];

export function parseRenderFormat(value: string): RenderFormat {
  const format = RENDER_FORMATS.find((f) => f === value);
  if (format === undefined)
    throw new ValidationError('--format', value, `one of ${RENDER_FORMATS.join(', ')}`);
  return format;
}

async function readGraphText(path: string): Promise<string> {
  try {
    return path === '-' ? await readStdin() : await readFile(path, 'utf8');
  } catch (err) {
    throw new ValidationError('--from-json', path, `a readable graph.json file (${errorLine(err)})`, {
      cause: err,
    });
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

interface RenderOptions {
  fromJson: string;
  format: string;
  metric?: string;
  output?: string;
}

export async function renderFromJson(options: RenderOptions): Promise<string> {
  // Flags are checked before the file is read: a typo fails the same way whatever the file.
  const format = parseRenderFormat(options.format);
  const metric = options.metric === undefined ? undefined : parseMatrixMetric(options.metric, '--metric');
  if (metric !== undefined && format !== 'matrix-svg') {
    throw new ValidationError(
      '--metric',
      metric,
      'no --metric: it chooses the figure of --format matrix-svg',
    );
  }
  const graph = await import('../../../layers/graph/index.ts');
  const model = graph.graphFromJson(await readGraphText(options.fromJson));
  switch (format) {
    case 'svg':
      return (await graph.renderAll(model)).svg;
    case 'dot':
      return graph.toDot(model);
    case 'graphml':
      return graph.toGraphML(model);
    case 'json':
      return graph.toGraphJson(model);
    case 'matrix-svg':
      return graph.renderMatrixSvg(model, metric ?? 'latency');
  }
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description('draw a stored graph.json offline as SVG, DOT, GraphML, JSON or a matrix heatmap (SVG)')
    .requiredOption('--from-json <file>', 'a graph.json (docs/graph-json.md), or - for stdin')
    .option('--format <format>', `one of ${RENDER_FORMATS.join(', ')}`, 'svg')
    .option(
      '--metric <metric>',
      `with --format matrix-svg: one of ${MATRIX_METRICS.join(', ')} (default latency)`,
    )
    .option('-o, --output <file>', 'write to this file (default: stdout)')
    .action(async (options: RenderOptions) => {
      const text = await renderFromJson(options);
      if (options.output === undefined) {
        process.stdout.write(text);
        return;
      }
      await writeFile(options.output, text);
      process.stdout.write(`${options.output}\n`);
    });
}
