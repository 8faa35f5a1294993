import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { ValidationError } from '../../../layers/core/errors.ts';
import { formatBitsPerSecond, formatSeconds, renderTable } from '../../../layers/core/format.ts';
import { orderedPairs, spreadPairs } from '../../../layers/core/pairs.ts';
import type { RunnerNode, TestOutcome } from '../../../layers/core/runner.ts';
import { FLENT_TESTS, type FlentTestName, isFlentTest } from '../../../layers/flent/spec.ts';
import type { FlentSummary } from '../../../layers/flent/summary.ts';
import { LocalRunner } from '../../../layers/local-runner/runner.ts';
import { type SimCluster, withSimCluster } from '../../../test/rig/sim-cluster.ts';
import { positiveInteger } from './flent.ts';

interface DemoOptions {
  nodes: number;
  length: number;
  delay: number;
  test: string;
  out?: string;
}

/** One row of summary.json: what a user checks after the demo. */
export interface DemoPair {
  src: string;
  dst: string;
  test: string;
  cut: boolean;
  shapedBitsPerSecond: number | null;
  measuredBitsPerSecond: number | null;
  latencySeconds: number | null;
  connectivity: 0 | 1;
  reason: string | null;
  archiveUrl: string | null;
}

const MBIT = 1e6;

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'run one full measurement round on a local simulated cluster (network namespaces with shaped links and one cut pair) and print the results',
    )
    .option(
      '--nodes <n>',
      'simulated nodes, 2..16; node i is shaped to 10*i Mbit/s',
      positiveInteger('--nodes'),
      4,
    )
    .option('--length <seconds>', 'seconds of measurement per pair', positiveInteger('--length'), 3)
    .option('--delay <seconds>', 'flent -d: idle seconds before and after the load', Number, 2)
    .option('--test <name>', `${FLENT_TESTS.join(', ')}`, 'tcp_upload')
    .option('--out <dir>', 'keep archives under DIR/archives and write DIR/summary.json')
    .addHelpText(
      'after',
      '\nNeeds root (namespaces, tc, nftables) and the system packages of infra/system/install.sh.\nThe cut pair is the first node to the last: its test must fail with connectivity 0.',
    )
    .action(async (options: DemoOptions) => {
      await runDemo(options);
    });
}

async function runDemo(options: DemoOptions): Promise<void> {
  if (options.nodes < 2 || options.nodes > 16)
    throw new ValidationError('--nodes', options.nodes, 'an integer from 2 to 16');
  if (!isFlentTest(options.test))
    throw new ValidationError('--test', options.test, `one of ${FLENT_TESTS.join(', ')}`);
  const test: FlentTestName = options.test;
  const out = resolve(options.out ?? (await mkdtemp(join(tmpdir(), 'netmon-demo-'))));
  const workDir = await mkdtemp(join(tmpdir(), 'netmon-demo-runs-'));
  const names = Array.from({ length: options.nodes }, (_, i) => `node-${i + 1}`);
  const cut = [names[0], names[names.length - 1]] as [string, string];
  const zones = ['zone-a', 'zone-b'];

  try {
    const rows = await withSimCluster(
      {
        nodes: names.map((name, i) => ({
          name,
          rateBitsPerSecond: 10 * (i + 1) * MBIT,
          zone: zones[i % zones.length] as string,
          region: 'sim',
        })),
        cuts: [cut],
      },
      (cluster) => runRound(cluster, test, options, join(out, 'archives'), workDir),
    );
    printReport(rows, out, options.out !== undefined);
    if (options.out !== undefined) {
      await writeFile(
        join(out, 'summary.json'),
        `${JSON.stringify({ test, lengthSeconds: options.length, pairs: rows }, null, 2)}\n`,
      );
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function runRound(
  cluster: SimCluster,
  test: FlentTestName,
  options: DemoOptions,
  archiveDir: string,
  workDir: string,
): Promise<DemoPair[]> {
  const runner = new LocalRunner({ workDir });
  const pairs = spreadPairs(orderedPairs(cluster.nodes.map((n) => n.name)));
  const bar = new SingleBar({
    format:
      'round |{bar}| {value}/{total} pairs | {duration_formatted} elapsed, ~{eta_formatted} left | {pair}',
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 10_000,
    etaBuffer: 4,
    hideCursor: true,
  });
  bar.start(pairs.length, 0, { pair: '' });
  const rows: DemoPair[] = [];
  try {
    for (const pair of pairs) {
      bar.update({ pair: `${pair.src} -> ${pair.dst}` });
      const outcome = await runner.run({
        src: asRunnerNode(cluster, pair.src),
        dst: asRunnerNode(cluster, pair.dst),
        test,
        lengthSeconds: options.length,
        delaySeconds: options.delay,
      });
      rows.push(await toRow(cluster, test, outcome, archiveDir));
      bar.increment();
    }
  } finally {
    bar.stop();
  }
  return rows;
}

function asRunnerNode(cluster: SimCluster, name: string): RunnerNode {
  const node = cluster.node(name);
  return { name: node.name, address: node.address, netns: node.netns };
}

function shapedRate(cluster: SimCluster, test: FlentTestName, src: string, dst: string): number | null {
  if (test === 'ping') return null;
  const sender = test === 'tcp_download' ? dst : src;
  return cluster.node(sender).rateBitsPerSecond ?? null;
}

function measuredRate(test: FlentTestName, summary: FlentSummary): number | null {
  if (test === 'ping') return null;
  const direction = test === 'tcp_download' ? 'download' : 'upload';
  return summary.throughput[direction].total?.mean ?? null;
}

async function toRow(
  cluster: SimCluster,
  test: FlentTestName,
  outcome: TestOutcome,
  archiveDir: string,
): Promise<DemoPair> {
  const base = {
    src: outcome.src,
    dst: outcome.dst,
    test,
    cut: cluster.isCut(outcome.src, outcome.dst),
    shapedBitsPerSecond: shapedRate(cluster, test, outcome.src, outcome.dst),
  };
  if (!outcome.ok) {
    return {
      ...base,
      measuredBitsPerSecond: null,
      latencySeconds: null,
      connectivity: 0,
      reason: outcome.failure.reason,
      archiveUrl: null,
    };
  }
  const target = join(archiveDir, outcome.src, outcome.dst, basename(outcome.archivePath));
  await mkdir(join(archiveDir, outcome.src, outcome.dst), { recursive: true });
  await copyFile(outcome.archivePath, target);
  return {
    ...base,
    measuredBitsPerSecond: measuredRate(test, outcome.summary),
    latencySeconds: outcome.summary.series['Ping (ms) ICMP']?.median ?? null,
    connectivity: 1,
    reason: null,
    archiveUrl: pathToFileURL(target).href,
  };
}

function printReport(rows: readonly DemoPair[], out: string, wroteSummary: boolean): void {
  const table = renderTable(
    ['src', 'dst', 'shaped', 'measured', 'latency (median)', 'connectivity'],
    rows.map((row) => [
      row.src,
      row.dst,
      formatBitsPerSecond(row.shapedBitsPerSecond),
      formatBitsPerSecond(row.measuredBitsPerSecond),
      formatSeconds(row.latencySeconds),
      row.connectivity === 1 ? '1' : `0 (${row.reason}${row.cut ? ', cut on purpose' : ''})`,
    ]),
  );
  const lines = [table, '', `archives: ${join(out, 'archives')}`];
  if (wroteSummary) lines.push(`summary:  ${join(out, 'summary.json')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
