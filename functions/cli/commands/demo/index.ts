import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { startLocalStack } from '../../../../infra/local-stack/stack.ts';
import { withSimCluster } from '../../../../infra/rig/sim-cluster.ts';
import { RigError, ValidationError } from '../../../../layers/core/errors.ts';
import { isRoot } from '../../../../layers/core/host.ts';
import { CONCURRENCY_MODES, type Concurrency, SERIAL } from '../../../../layers/domain/schedule.ts';
import {
  DELAY_RANGE,
  isTestName,
  TEST_NAMES,
  type TestName,
  testTypesHelp,
} from '../../../../layers/domain/test-types.ts';
import { storeFrom } from '../../../../layers/wiring/context.ts';
import { checkPerNodeCount, DELAYS_FLAG, LOSSES_FLAG, perNodeList, RATES_FLAG } from '../../per-node.ts';
import { positiveInteger } from '../flent.ts';
import { holdUntilInterrupted, report, toRow } from './report.ts';
import { demoEnv, renderWhenVisible, roundTime, runRound } from './round.ts';
import { sweepBesideRound } from './sweep.ts';

/** `netmon demo`: one full round on a local simulated cluster with the embedded stack. */

interface DemoOptions {
  nodes: number;
  length: number;
  delay: number;
  test: string;
  out?: string;
  keep?: boolean;
  rates?: number[];
  delays?: number[];
  losses?: number[];
  concurrency: string;
  maxParallel?: number;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'run one full measurement round on a local simulated cluster with the embedded stack (S3, SQS, Pushgateway, Prometheus): plan -> probe -> render, and a sweep of every pair beside it',
    )
    .option(
      '--nodes <n>',
      'simulated nodes, 2..16; node i is shaped to 10*i Mbit/s unless --rates',
      positiveInteger('--nodes'),
      4,
    )
    .option('--length <seconds>', 'seconds of measurement per pair', positiveInteger('--length'), 3)
    .option('--delay <seconds>', 'flent -d: idle seconds before and after the load', Number, 1)
    .option('--test <name>', `${TEST_NAMES.join(', ')}`, 'tcp_upload')
    .option(
      '--rates <mbits>',
      'egress rate of each node in Mbit/s, comma-separated (default: node i at 10*i)',
      perNodeList(RATES_FLAG),
    )
    .option(
      '--delays <ms>',
      'added egress delay of each node in ms, comma-separated, e.g. 0,5,12,20 (default: none)',
      perNodeList(DELAYS_FLAG),
    )
    .option(
      '--losses <percent>',
      'random egress loss of each node in %, comma-separated, e.g. 0,0,1,3 (default: none)',
      perNodeList(LOSSES_FLAG),
    )
    .option(
      '--concurrency <mode>',
      "serial: one test at a time; disjoint: the round in node-disjoint slots, a slot's tests at once",
      'serial',
    )
    .option(
      '--max-parallel <k>',
      'disjoint: at most K tests at once (default: a whole slot, nodes / 2)',
      positiveInteger('--max-parallel'),
    )
    .option('--out <dir>', 'keep the stack data and graphs in DIR and write DIR/summary.json')
    .option('--keep', 'leave the stack running (browse S3 and Prometheus) until Ctrl-C')
    .addHelpText(
      'after',
      `\nTests:\n${testTypesHelp()}\n\nNeeds root (namespaces, tc, nftables) and the system packages of infra/system/install.sh.\nThe first node to the last is cut on purpose: its test must fail with connectivity 0.\nDelays and losses are injected on each node's egress (a user-space delay line, nftables random drop):\na pair's round trip gains the delays of both nodes, its up leg src's loss and its down leg dst's.`,
    )
    .action(async (options: DemoOptions) => {
      await runDemo(options);
    });
}

function checkOptions(options: DemoOptions): TestName {
  if (options.nodes < 2 || options.nodes > 16)
    throw new ValidationError('--nodes', options.nodes, 'an integer from 2 to 16');
  if (!isTestName(options.test))
    throw new ValidationError('--test', options.test, `one of ${TEST_NAMES.join(', ')}`);
  if (
    !Number.isInteger(options.delay) ||
    options.delay < DELAY_RANGE.min ||
    options.delay > DELAY_RANGE.max
  ) {
    throw new ValidationError(
      '--delay',
      options.delay,
      `an integer from ${DELAY_RANGE.min} to ${DELAY_RANGE.max}`,
    );
  }
  for (const [spec, values] of [
    [RATES_FLAG, options.rates],
    [DELAYS_FLAG, options.delays],
    [LOSSES_FLAG, options.losses],
  ] as const)
    checkPerNodeCount(spec, values, options.nodes);
  if (!isRoot()) {
    throw new RigError(
      'the demo builds a simulated cluster of network namespaces, veth pairs, tc qdiscs and nftables rules, which needs root: run it as root (sudo npm run demo)',
    );
  }
  if (!(CONCURRENCY_MODES as readonly string[]).includes(options.concurrency))
    throw new ValidationError('--concurrency', options.concurrency, CONCURRENCY_MODES.join(' or '));
  if (options.maxParallel !== undefined && options.concurrency !== 'disjoint')
    throw new ValidationError('--max-parallel', options.maxParallel, 'only with --concurrency disjoint');
  return options.test;
}

/** The schedule's concurrency from the flags. */
function concurrencyOf(options: DemoOptions): Concurrency {
  if (options.concurrency !== 'disjoint') return SERIAL;
  return options.maxParallel === undefined
    ? { mode: 'disjoint' }
    : { mode: 'disjoint', maxParallel: options.maxParallel };
}

async function runDemo(options: DemoOptions): Promise<void> {
  const test = checkOptions(options);
  const out = resolve(options.out ?? (await mkdtemp(join(tmpdir(), 'netmon-demo-'))));
  await mkdir(out, { recursive: true });
  const names = Array.from({ length: options.nodes }, (_, i) => `node-${i + 1}`);
  const cut = [names[0], names[names.length - 1]] as [string, string];
  const stack = await startLocalStack({ directory: out });
  try {
    await withSimCluster(
      {
        nodes: names.map((name, i) => ({
          name,
          rateBitsPerSecond: RATES_FLAG.toRig(options.rates?.[i] ?? 10 * (i + 1)),
          delaySeconds: DELAYS_FLAG.toRig(options.delays?.[i] ?? 0),
          lossRatio: LOSSES_FLAG.toRig(options.losses?.[i] ?? 0),
          zone: `zone-${i % 2 === 0 ? 'a' : 'b'}`,
          region: 'sim',
        })),
        cuts: [cut],
      },
      async (cluster) => {
        const concurrency = concurrencyOf(options);
        const env = await demoEnv(stack, cluster, out, test, { ...options, concurrency });
        const store = storeFrom(env);
        const [records, swept] = await Promise.all([
          runRound(env, cluster.nodes.length),
          sweepBesideRound(env, store, stack.prometheusUrl, cluster.nodes.length, {
            src: cut[0],
            dst: cut[1],
          }),
        ]);
        const graphs = await renderWhenVisible(env, stack, records.length);
        const rows = records.map((record) => toRow(cluster, record, (key) => store.urlFor(key)));
        await report(rows, graphs, stack, store, out, {
          writeSummary: options.out !== undefined,
          keep: options.keep === true,
          round: await roundTime(store, concurrency),
          sweep: swept,
        });
        if (options.keep) await holdUntilInterrupted(stack);
      },
    );
  } finally {
    await stack.stop();
  }
}
