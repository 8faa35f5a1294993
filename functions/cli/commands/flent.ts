import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { formatBitsPerSecond, formatRatio, formatSeconds, renderTable } from '../../../layers/core/format.ts';
import type { FlentSummary, SeriesStats } from '../../../layers/domain/figures.ts';
import { isNetworkFailure } from '../../../layers/domain/outcome.ts';
import { DEFAULT_DELAY_SECONDS, TEST_NAMES } from '../../../layers/domain/test-types.ts';
import { ARCHIVE_LIMITS, readArchiveFile } from '../../../layers/flent/archive.ts';
import { runFlent } from '../../../layers/flent/run.ts';
import { validateFlentSpec } from '../../../layers/flent/spec.ts';
import { summarizeArchive } from '../../../layers/flent/summary.ts';

export function positiveInteger(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed <= 0) {
      throw new InvalidArgumentError(`${name} must be a positive whole number, got ${JSON.stringify(value)}`);
    }
    return parsed;
  };
}

export function registerFlent(program: Command): void {
  const flent = program.command('flent').description('run Flent tests and read their .flent.gz archives');

  flent
    .command('summary')
    .description('print the typed summary of a .flent.gz archive (figures in base units with --json)')
    .argument('<file>', 'a .flent.gz archive written by flent')
    .option(
      '--json',
      'print JSON: test, connectivity, series{name: unit, count, min, mean, median, p99, max}',
    )
    .option(
      '--max-bytes <n>',
      'refuse archives that decompress to more than this',
      positiveInteger('--max-bytes'),
      ARCHIVE_LIMITS.maxDecompressedBytes,
    )
    .action(async (file: string, options: { json?: boolean; maxBytes: number }) => {
      const archive = await readArchiveFile(resolve(file), {
        maxCompressedBytes: ARCHIVE_LIMITS.maxCompressedBytes,
        maxDecompressedBytes: options.maxBytes,
      });
      const summary = summarizeArchive(archive);
      process.stdout.write(
        options.json ? `${JSON.stringify(summary, null, 2)}\n` : `${describeSummary(summary)}\n`,
      );
    });

  flent
    .command('run')
    .description('run one flent test against a host that runs netserver (and irtt) and print its summary')
    .requiredOption('--host <host>', 'address or name of the host running netserver')
    .option('--test <name>', `one of ${TEST_NAMES.join(', ')}`, 'tcp_upload')
    .option('--length <seconds>', 'measurement length, 1..3600', positiveInteger('--length'), 10)
    .option(
      '--delay <seconds>',
      'flent -d: idle seconds before and after the load, 0..60',
      Number,
      DEFAULT_DELAY_SECONDS,
    )
    .option('--out <dir>', 'directory for the archive', '.')
    .option('--json', 'print the summary (or the failure) as JSON')
    .action(
      async (options: {
        host: string;
        test: string;
        length: number;
        delay: number;
        out: string;
        json?: boolean;
      }) => {
        const spec = validateFlentSpec({
          test: options.test,
          host: options.host,
          length: options.length,
          delay: options.delay,
          outputDir: resolve(options.out),
        });
        const outcome = await runFlent(spec);
        if (options.json) {
          process.stdout.write(
            `${JSON.stringify(outcome.ok ? { ...outcome.summary, archivePath: outcome.archivePath } : outcome.failure, null, 2)}\n`,
          );
        } else if (outcome.ok) {
          process.stdout.write(`${describeSummary(outcome.summary)}\narchive: ${outcome.archivePath}\n`);
        } else {
          const f = outcome.failure;
          // Only a finding about the network is connectivity 0; a test that broke measured nothing.
          const verdict = isNetworkFailure(f.reason) ? 'connectivity 0' : 'not measured (the test broke)';
          process.stdout.write(`${verdict}: ${f.reason}: ${f.message}\n${f.stderrTail}\n`);
        }
        if (!outcome.ok) process.exitCode = 3;
      },
    );
}

function formatValue(stats: SeriesStats, value: number | null): string {
  return stats.unit === 's' ? formatSeconds(value) : formatBitsPerSecond(value);
}

export function describeSummary(summary: FlentSummary): string {
  const head = [
    `test ${summary.test}, ${summary.lengthSeconds} s, started ${summary.startTime}, hosts ${summary.hosts.join(' ')}, flent ${summary.flentVersion}`,
    `connectivity ${summary.connectivity}`,
  ];
  const rows = Object.entries(summary.series).map(([name, s]) => [
    name,
    String(s.count),
    formatValue(s, s.min),
    formatValue(s, s.mean),
    formatValue(s, s.median),
    formatValue(s, s.p99),
    formatValue(s, s.max),
    formatRatio(s.lossRatio),
  ]);
  const table = renderTable(['series', 'samples', 'min', 'mean', 'median', 'p99', 'max', 'loss'], rows);
  const notes = summary.emptySeries.length > 0 ? [`no data in: ${summary.emptySeries.join(', ')}`] : [];
  return [...head, '', table, ...notes].join('\n');
}
