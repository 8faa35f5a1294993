import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { type LocalStack, startLocalStack } from '../../../infra/local-stack/stack.ts';
import { type SimCluster, withSimCluster } from '../../../infra/rig/sim-cluster.ts';
import { RigError, ValidationError } from '../../../layers/core/errors.ts';
import { formatBitsPerSecond, formatSeconds, renderTable } from '../../../layers/core/format.ts';
import { isRoot } from '../../../layers/core/host.ts';
import { waitFor } from '../../../layers/core/process.ts';
import type { TestRecord } from '../../../layers/domain/record.ts';
import { isTestName, TEST_NAMES, type TestName } from '../../../layers/domain/test-types.ts';
import { queryLatestPairs } from '../../../layers/metrics/query.ts';
import { plan } from '../../../layers/pipeline/plan.ts';
import { type ProbeEvent, probe } from '../../../layers/pipeline/probe.ts';
import { type RenderReport, render } from '../../../layers/pipeline/render.ts';
import { GRAPH_FORMATS, type GraphFormat } from '../../../layers/store/keys.ts';
import { planDepsFrom, probeDepsFrom, renderDepsFrom, storeFrom } from '../../../layers/wiring/context.ts';
import { positiveInteger } from './flent.ts';

interface DemoOptions {
  nodes: number;
  length: number;
  delay: number;
  test: string;
  out?: string;
  keep?: boolean;
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
const SCHEDULE = 'demo';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'run one full measurement round on a local simulated cluster with the embedded stack (S3, SQS, Pushgateway, Prometheus): plan -> probe -> render',
    )
    .option(
      '--nodes <n>',
      'simulated nodes, 2..16; node i is shaped to 10*i Mbit/s',
      positiveInteger('--nodes'),
      4,
    )
    .option('--length <seconds>', 'seconds of measurement per pair', positiveInteger('--length'), 3)
    .option('--delay <seconds>', 'flent -d: idle seconds before and after the load', Number, 1)
    .option('--test <name>', `${TEST_NAMES.join(', ')}`, 'tcp_upload')
    .option('--out <dir>', 'keep the stack data and graphs in DIR and write DIR/summary.json')
    .option('--keep', 'leave the stack running (browse S3 and Prometheus) until Ctrl-C')
    .addHelpText(
      'after',
      '\nNeeds root (namespaces, tc, nftables) and the system packages of infra/system/install.sh.\nThe first node to the last is cut on purpose: its test must fail with connectivity 0.',
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
  if (!Number.isInteger(options.delay) || options.delay < 0 || options.delay > 60) {
    throw new ValidationError('--delay', options.delay, 'an integer from 0 to 60');
  }
  if (!isRoot()) {
    throw new RigError(
      'the demo builds a simulated cluster of network namespaces, veth pairs, tc qdiscs and nftables rules, which needs root: run it as root (sudo npm run demo)',
    );
  }
  return options.test;
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
          rateBitsPerSecond: 10 * (i + 1) * MBIT,
          zone: `zone-${i % 2 === 0 ? 'a' : 'b'}`,
          region: 'sim',
        })),
        cuts: [cut],
      },
      async (cluster) => {
        const env = await demoEnv(stack, cluster, out, test, options);
        const records = await runRound(env, cluster.nodes.length);
        const graphs = await renderWhenVisible(env, stack, records.length);
        const store = storeFrom(env);
        const rows = records.map((record) => toRow(cluster, record, (key) => store.urlFor(key)));
        await report(rows, graphs, stack, out, options);
        if (options.keep) await holdUntilInterrupted(stack);
      },
    );
  } finally {
    await stack.stop();
  }
}

async function demoEnv(
  stack: LocalStack,
  cluster: SimCluster,
  out: string,
  test: TestName,
  options: DemoOptions,
): Promise<NodeJS.ProcessEnv> {
  const nodesFile = join(out, 'nodes.json');
  await writeFile(nodesFile, JSON.stringify(cluster.clusterNodes(), null, 2));
  return {
    ...process.env,
    ...stack.env,
    NETMON_NODES_FILE: nodesFile,
    NETMON_SCHEDULES: JSON.stringify([
      { name: SCHEDULE, cron: '* * * * *', test, lengthSeconds: options.length, delaySeconds: options.delay },
    ]),
    NETMON_LOCK_FILE: join(out, 'test.lock'),
    NETMON_WORK_DIR: join(out, 'runs'),
    NETMON_CLUSTER_NAME: 'demo',
  };
}

/** plan, then probe until the round is done, with a progress bar on stderr. */
async function runRound(env: NodeJS.ProcessEnv, nodeCount: number): Promise<TestRecord[]> {
  const { parseSchedules } = await import('../../../layers/pipeline/schedules.ts');
  await plan(await planDepsFrom(env), parseSchedules(env.NETMON_SCHEDULES ?? ''));
  const total = nodeCount * (nodeCount - 1);
  const bar = new SingleBar({
    format:
      'round |{bar}| {value}/{total} pairs | {duration_formatted} elapsed, ~{eta_formatted} left | {pair}',
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 10_000,
    etaBuffer: 4,
    hideCursor: true,
  });
  const records: TestRecord[] = [];
  bar.start(total, 0, { pair: 'starting' });
  const onTest = (event: ProbeEvent): void => {
    if (event.kind === 'started') bar.update({ pair: `${event.src} -> ${event.dst}` });
    if (event.kind === 'finished') {
      records.push(event.record);
      bar.increment();
    }
  };
  try {
    await probe({ ...(await probeDepsFrom(env)), onTest });
  } finally {
    bar.stop();
  }
  return records;
}

/** Prometheus scrapes the gateway every second; render once every pair is there. */
async function renderWhenVisible(
  env: NodeJS.ProcessEnv,
  stack: LocalStack,
  pairs: number,
): Promise<RenderReport> {
  await waitFor(
    'Prometheus to scrape every pair',
    async () => (await queryLatestPairs(stack.prometheusUrl, { schedule: SCHEDULE })).length >= pairs,
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  return render({ ...renderDepsFrom(env), schedule: SCHEDULE });
}

function toRow(cluster: SimCluster, record: TestRecord, urlFor: (key: string) => string): DemoPair {
  const sender = record.test === 'tcp_download' ? record.dst : record.src;
  const direction = record.test === 'tcp_download' ? 'download' : 'upload';
  return {
    src: record.src,
    dst: record.dst,
    test: record.test,
    cut: cluster.isCut(record.src, record.dst),
    shapedBitsPerSecond: record.test === 'ping' ? null : (cluster.node(sender).rateBitsPerSecond ?? null),
    measuredBitsPerSecond: record.summary?.throughput[direction].total?.mean ?? null,
    latencySeconds: record.summary?.series['Ping (ms) ICMP']?.median ?? null,
    connectivity: record.connectivity,
    reason: record.reason,
    archiveUrl: record.archiveKey === null ? null : urlFor(record.archiveKey),
  };
}

async function report(
  rows: DemoPair[],
  graphs: RenderReport,
  stack: LocalStack,
  out: string,
  options: DemoOptions,
): Promise<void> {
  const writeSummary = options.out !== undefined;
  rows.sort((a, b) => a.src.localeCompare(b.src) || a.dst.localeCompare(b.dst));
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
  const graphDir = join(out, 'graphs');
  await mkdir(graphDir, { recursive: true });
  const store = storeFrom(stack.env);
  for (const format of Object.keys(GRAPH_FORMATS) as GraphFormat[]) {
    const bytes = await store.getBytes(graphs.stored.latest[format]);
    await writeFile(join(graphDir, `graph.${format}`), bytes ?? '');
  }
  const lines = [
    table,
    '',
    `archives (S3):   ${store.urlFor(`archives/${SCHEDULE}/`)}  (s3rver folder ${stack.s3Directory})`,
    ...Object.entries(graphs.urls).map(([format, url]) => `graph ${format.padEnd(8)} ${url}`),
    `graphs (local):  ${graphDir}`,
    `metrics:         ${stack.prometheusUrl}/graph?g0.expr=netmon_connectivity`,
  ];
  if (!options.keep)
    lines.push(
      '(the stack stops now: run with --keep to browse these URLs; the files stay in the folders above)',
    );
  if (writeSummary) {
    const summaryPath = join(out, 'summary.json');
    const summary = {
      schedule: SCHEDULE,
      pairs: rows,
      graphs: graphs.urls,
      // Where the embedded stack listens (it keeps running with --keep); local test credentials, not secrets.
      stack: {
        s3: {
          endpoint: stack.env.NETMON_S3_ENDPOINT,
          bucket: stack.env.NETMON_S3_BUCKET,
          accessKeyId: stack.env.AWS_ACCESS_KEY_ID,
          secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY,
        },
        prometheus: stack.prometheusUrl,
        pushgateway: stack.pushgatewayUrl,
        running: options.keep === true,
      },
    };
    await writeFile(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
    lines.push(`summary:         ${summaryPath}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function holdUntilInterrupted(stack: LocalStack): Promise<void> {
  process.stdout.write(
    [
      '',
      'The stack keeps running (Ctrl-C stops it and removes the simulated cluster):',
      `  S3          ${stack.env.NETMON_S3_ENDPOINT}  bucket ${stack.env.NETMON_S3_BUCKET}, access key S3RVER, secret S3RVER`,
      `  Prometheus  ${stack.prometheusUrl}`,
      `  Pushgateway ${stack.pushgatewayUrl}`,
      '',
    ].join('\n'),
  );
  await new Promise<void>(() => {
    // Resolved never: the shutdown handler stops everything and exits on SIGINT/SIGTERM.
  });
}
