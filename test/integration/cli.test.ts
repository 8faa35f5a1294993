import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { netmon } from '../helpers/cli.ts';
import { flentStats, relativeDifference } from '../helpers/flent-stats.ts';

const fixture = (name: string): string => new URL(`../fixtures/flent/${name}`, import.meta.url).pathname;

describe('netmon flent summary', () => {
  it.each(['tcp_upload', 'tcp_download', 'rrul', 'ping-lossy'])(
    'prints %s as JSON in base units, matching flent -f stats',
    async (name) => {
      const file = fixture(`${name}.flent.gz`);
      const result = await netmon(['flent', 'summary', file, '--json']);
      expect(result.exitCode, result.stderr).toBe(0);
      const summary = JSON.parse(result.stdout) as {
        test: string;
        connectivity: number;
        series: Record<string, { unit: string; count: number; [k: string]: unknown }>;
      };
      expect(summary.connectivity).toBe(1);
      expect(summary.test).toBe(name.replace('-lossy', ''));
      const theirs = await flentStats(file);
      expect(Object.keys(theirs).length).toBeGreaterThan(0);
      for (const [series, figures] of Object.entries(theirs)) {
        const mine = summary.series[series];
        expect(mine, series).toBeDefined();
        expect(mine?.unit).toBe(series.startsWith('Ping') ? 's' : 'bit/s');
        for (const key of ['min', 'mean', 'median', 'p99', 'max'] as const) {
          expect(relativeDifference(mine?.[key] as number, figures[key]), `${series} ${key}`).toBeLessThan(
            0.01,
          );
        }
      }
    },
  );

  it('prints a readable table without --json', async () => {
    const result = await netmon(['flent', 'summary', fixture('tcp_upload.flent.gz')]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/TCP upload\s+13\s+9\.46 Mbit\/s\s+9\.61 Mbit\/s/);
  });

  it.each([
    ['a missing file', '/nonexistent/x.flent.gz', /cannot open/],
    ['a file that is not gzip', 'not-gzip', /not valid gzip data/],
    ['a truncated archive', 'truncated', /truncated gzip data/],
  ])('fails on %s with one line and a non-zero exit', async (_what, which, pattern) => {
    const dir = await mkdtemp(join(tmpdir(), 'netmon-cli-'));
    let file = which;
    if (which === 'not-gzip') {
      file = join(dir, 'x.flent.gz');
      await writeFile(file, 'plain text');
    } else if (which === 'truncated') {
      file = join(dir, 't.flent.gz');
      const bytes = await readFile(fixture('rrul.flent.gz'));
      await writeFile(file, bytes.subarray(0, 5000));
    }
    const result = await netmon(['flent', 'summary', file, '--json']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(pattern);
  });

  it('refuses an archive over --max-bytes', async () => {
    const result = await netmon(['flent', 'summary', fixture('rrul.flent.gz'), '--max-bytes', '1000']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/decompresses to more than 1000 bytes/);
  });

  it('explains itself with --help', async () => {
    const result = await netmon(['--help']);
    expect(result.exitCode).toBe(0);
    for (const command of ['flent', 'demo', 'rig']) expect(result.stdout).toContain(command);
    const summaryHelp = await netmon(['flent', 'summary', '--help']);
    expect(summaryHelp.stdout).toContain('--json');
    const demoHelp = await netmon(['demo', '--help']);
    for (const flag of ['--concurrency', '--max-parallel', '--delays', '--losses'])
      expect(demoHelp.stdout).toContain(flag);
  });

  it.each([
    [['--concurrency', 'all'], /--concurrency.*"all".*serial or disjoint/],
    [['--max-parallel', '2'], /--max-parallel.*only with --concurrency disjoint/],
  ])('the demo refuses %j before it starts anything, naming the flag', async (flags, pattern) => {
    const result = await netmon(['demo', ...flags]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(pattern);
  });
});
