import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ValidationError } from '../../../layers/core/errors.ts';
import { formatBitsPerSecond, formatRatio, formatSeconds, renderTable } from '../../../layers/core/format.ts';
import { headlineOf } from '../../../layers/domain/headline.ts';
import {
  findRound,
  listRounds,
  listSchedules,
  pairResult,
  roundResults,
  type StoredRecord,
} from '../../../layers/pipeline/results.ts';
import { storeFrom } from '../../../layers/wiring/context.ts';

/** `netmon results`: what the pipeline stored in S3, for operators. Settings: NETMON_S3_* (see README). */
export function registerResults(program: Command): void {
  const results = program
    .command('results')
    .description(
      'list rounds, print result tables, download archives from the S3 bucket (NETMON_S3_* settings)',
    );

  results
    .command('list')
    .description('list schedules, or the rounds of one schedule with their progress')
    .option('--schedule <name>', 'list the rounds of this schedule')
    .action(async (options: { schedule?: string }) => {
      const store = storeFrom();
      if (options.schedule === undefined) {
        const schedules = await listSchedules(store);
        process.stdout.write(
          schedules.length === 0 ? 'no schedules have rounds yet\n' : `${schedules.join('\n')}\n`,
        );
        return;
      }
      const rounds = await listRounds(store, options.schedule);
      const rows = rounds.map((m) => [
        m.round,
        m.test,
        m.openedAt,
        m.closedAt ?? 'open',
        `${m.counts.done + m.counts.failed + m.counts.skipped}/${m.counts.total}`,
        String(m.counts.failed),
        String(m.counts.skipped),
      ]);
      process.stdout.write(
        `${renderTable(['round', 'test', 'opened', 'closed', 'progress', 'failed', 'skipped'], rows)}\n`,
      );
    });

  results
    .command('table')
    .description('the results of a round (default: the newest) as a table or CSV')
    .requiredOption('--schedule <name>', 'schedule name')
    .option('--round <id>', 'round id, or latest', 'latest')
    .option('--csv', 'CSV in base units (s, bit/s, ratio) instead of a table')
    .action(async (options: { schedule: string; round: string; csv?: boolean }) => {
      const store = storeFrom();
      const manifest = await findRound(store, options.schedule, options.round);
      const records = await roundResults(store, manifest);
      if (records.length === 0) {
        throw new ValidationError('--round', manifest.round, 'a round with results (none stored yet)');
      }
      process.stdout.write(
        options.csv
          ? toCsv(records)
          : `round ${manifest.round} of ${manifest.schedule}\n${toTable(records)}\n`,
      );
    });

  results
    .command('get')
    .description("download a pair's archive (.flent.gz) or print its result record")
    .requiredOption('--schedule <name>', 'schedule name')
    .requiredOption('--src <node>', 'source node')
    .requiredOption('--dst <node>', 'destination node')
    .option('--round <id>', 'round id, or latest', 'latest')
    .option('-o, --output <file>', 'where to write the archive (default: the archive file name)')
    .option('--record', 'print the result record (JSON) instead of downloading the archive')
    .action(
      async (options: {
        schedule: string;
        src: string;
        dst: string;
        round: string;
        output?: string;
        record?: boolean;
      }) => {
        const store = storeFrom();
        const manifest = await findRound(store, options.schedule, options.round);
        const record = await pairResult(store, manifest, options.src, options.dst);
        if (options.record) {
          process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
          return;
        }
        if (record.archiveKey === null) {
          throw new ValidationError(
            '--src/--dst',
            `${options.src}->${options.dst}`,
            `a pair with an archive; this test failed (${record.reason}) and flent wrote none: use --record`,
          );
        }
        const bytes = await store.getBytes(record.archiveKey);
        const target = options.output ?? (record.archiveKey.split('/').pop() as string);
        await writeFile(target, bytes ?? new Uint8Array());
        process.stdout.write(`${target}\n`);
      },
    );
}

interface Figures {
  latency: number | null;
  loss: number | null;
  upload: number | null;
  download: number | null;
}

/** The record's headline figures (docs/headline-figures.md): the same ones the graph shows. */
function figures(record: StoredRecord): Figures {
  const headline = headlineOf(record.summary ?? null);
  return {
    latency: headline.latencySeconds,
    loss: headline.lossRatio,
    upload: headline.throughput.src_to_dst,
    download: headline.throughput.dst_to_src,
  };
}

function toTable(records: readonly StoredRecord[]): string {
  return renderTable(
    ['src', 'dst', 'test', 'connectivity', 'latency (median)', 'loss', 'upload', 'download'],
    records.map((record) => {
      const f = figures(record);
      return [
        record.src,
        record.dst,
        record.test,
        connectivityCell(record),
        formatSeconds(f.latency),
        formatRatio(f.loss),
        formatBitsPerSecond(f.upload),
        formatBitsPerSecond(f.download),
      ];
    }),
  );
}

/** 1, 0 (why), or - (not measured: why) when the test broke and measured nothing. */
function connectivityCell(record: StoredRecord): string {
  if (record.connectivity === 1) return '1';
  if (record.connectivity === 0) return `0 (${record.reason})`;
  return `- (not measured: ${record.reason})`;
}

function csvCell(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function toCsv(records: readonly StoredRecord[]): string {
  const header = [
    'schedule',
    'round',
    'src',
    'dst',
    'test',
    'start_time',
    'connectivity',
    'reason',
    'latency_median_s',
    'loss_ratio',
    'upload_mean_bps',
    'download_mean_bps',
    'archive_key',
  ];
  const lines = records.map((record) => {
    const f = figures(record);
    return [
      record.schedule,
      record.round,
      record.src,
      record.dst,
      record.test,
      record.startTime,
      record.connectivity,
      record.reason,
      f.latency,
      f.loss,
      f.upload,
      f.download,
      record.archiveKey,
    ]
      .map(csvCell)
      .join(',');
  });
  return `${[header.join(','), ...lines].join('\n')}\n`;
}
