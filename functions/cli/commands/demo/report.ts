import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalStack } from '../../../../infra/local-stack/stack.ts';
import type { SimCluster } from '../../../../infra/rig/sim-cluster.ts';
import {
  formatBitsPerSecond,
  formatRatio,
  formatSeconds,
  renderTable,
} from '../../../../layers/core/format.ts';
import { FLOW_OF, FLOW_OF_LEG, type FlentSummary, latencyProbes } from '../../../../layers/domain/figures.ts';
import { headlineOf } from '../../../../layers/domain/headline.ts';
import type { TestRecord } from '../../../../layers/domain/record.ts';
import type { Concurrency } from '../../../../layers/domain/schedule.ts';
import { TEST_TYPES } from '../../../../layers/domain/test-types.ts';
import type { RenderReport } from '../../../../layers/pipeline/render.ts';
import { GRAPH_FORMATS, type GraphFormat } from '../../../../layers/store/keys.ts';
import type { ObjectStore } from '../../../../layers/store/s3-store.ts';
import { type RoundTime, SCHEDULE } from './round.ts';
import { type DemoSweep, sweepMatrix } from './sweep.ts';

/** What the demo shows when its round is done: a table, where things went, and summary.json. */

/** One row of summary.json: what a user checks after the demo. */
export interface DemoPair {
  src: string;
  dst: string;
  test: string;
  cut: boolean;
  shapedBitsPerSecond: number | null;
  /** The headline throughput (docs/headline-figures.md) in the test's first direction of data flow. */
  measuredBitsPerSecond: number | null;
  /** The headline latency: median round trip of the headline probe (ICMP). */
  latencySeconds: number | null;
  /** null: not measured (the test broke; reason says how). */
  connectivity: 0 | 1 | null;
  reason: string | null;
  archiveUrl: string | null;
  /** What the rig added on each leg: up is src's egress, down dst's. */
  injectedDelaySeconds: Legs;
  injectedLossRatio: Legs;
  /** udp_latency only (irtt): median round trip, one-way delay medians and loss per leg. */
  rttMedianSeconds?: number | null;
  /** Packets irtt sent: the loss ratios' denominator. */
  packetsSent?: number;
  /** Medians as published: null where the clocks made one negative. */
  oneWayDelaySeconds?: Legs<number | null>;
  lossRatio?: Legs<number | null>;
  /** Both ends' clock error bounds added (0: the rig's nodes share one clock); null when unknown. */
  clockErrorBoundSeconds?: number | null;
  oneWayDelayTrusted?: boolean;
}

interface Legs<T = number> {
  up: T;
  down: T;
}

/** The published one-way figures of a udp_latency record (layers/domain/one-way.ts), as summary.json shows them. */
function oneWayOf(
  record: TestRecord,
): Pick<
  DemoPair,
  | 'rttMedianSeconds'
  | 'packetsSent'
  | 'oneWayDelaySeconds'
  | 'lossRatio'
  | 'clockErrorBoundSeconds'
  | 'oneWayDelayTrusted'
> {
  const oneWay = record.oneWay;
  if (oneWay === null || oneWay === undefined) return {};
  const rtt = latencyProbes(record.summary as FlentSummary).find((p) => p.probe === oneWay.probe);
  return {
    rttMedianSeconds: rtt?.stats.median ?? null,
    packetsSent: oneWay.packetsSent,
    oneWayDelaySeconds: {
      up: oneWay.delaySeconds[FLOW_OF_LEG.up],
      down: oneWay.delaySeconds[FLOW_OF_LEG.down],
    },
    lossRatio: { up: oneWay.lossRatio[FLOW_OF_LEG.up], down: oneWay.lossRatio[FLOW_OF_LEG.down] },
    clockErrorBoundSeconds: oneWay.clockErrorBoundSeconds,
    oneWayDelayTrusted: oneWay.trusted,
  };
}

export function toRow(cluster: SimCluster, record: TestRecord, urlFor: (key: string) => string): DemoPair {
  const [direction] = TEST_TYPES[record.test].throughput;
  const flow = direction === undefined ? undefined : FLOW_OF[direction];
  // Data flows out of the sender, so the sender's egress shaping is the rate to compare with.
  const sender = flow === 'dst_to_src' ? record.dst : record.src;
  const headline = headlineOf(record.summary);
  return {
    src: record.src,
    dst: record.dst,
    test: record.test,
    cut: cluster.isCut(record.src, record.dst),
    shapedBitsPerSecond: flow === undefined ? null : (cluster.node(sender).rateBitsPerSecond ?? null),
    measuredBitsPerSecond: flow === undefined ? null : headline.throughput[flow],
    latencySeconds: headline.latencySeconds,
    connectivity: record.connectivity,
    reason: record.reason,
    archiveUrl: record.archiveKey === null ? null : urlFor(record.archiveKey),
    injectedDelaySeconds: {
      up: cluster.node(record.src).delaySeconds,
      down: cluster.node(record.dst).delaySeconds,
    },
    injectedLossRatio: { up: cluster.node(record.src).lossRatio, down: cluster.node(record.dst).lossRatio },
    ...oneWayOf(record),
  };
}

function connectivityCell(row: DemoPair): string {
  if (row.connectivity === 1) return '1';
  if (row.connectivity === null) return `- (not measured: ${row.reason})`;
  return `0 (${row.reason}${row.cut ? ', cut on purpose' : ''})`;
}

/** "measured (injected)" per leg. */
function legsCell(
  measured: Legs<number | null> | undefined,
  injected: Legs,
  format: (value: number | null) => string,
): string {
  return (['up', 'down'] as const)
    .map((leg) => `${leg} ${measured === undefined ? '-' : format(measured[leg])} (${format(injected[leg])})`)
    .join(', ');
}

/** udp_latency: round trip, one-way delays and loss per leg beside what the rig injected. */
function oneWayTable(rows: readonly DemoPair[]): string {
  return renderTable(
    [
      'src',
      'dst',
      'rtt (median)',
      'one-way delay (injected)',
      'loss (injected)',
      'clock bound',
      'connectivity',
    ],
    rows.map((row) => [
      row.src,
      row.dst,
      formatSeconds(row.rttMedianSeconds),
      legsCell(row.oneWayDelaySeconds, row.injectedDelaySeconds, formatSeconds),
      legsCell(row.lossRatio, row.injectedLossRatio, formatRatio),
      row.oneWayDelayTrusted === undefined
        ? '-'
        : `${formatSeconds(row.clockErrorBoundSeconds ?? null)} (${row.oneWayDelayTrusted ? 'trusted' : 'untrusted'})`,
      connectivityCell(row),
    ]),
  );
}

function table(rows: readonly DemoPair[]): string {
  if (rows.some((row) => row.oneWayDelaySeconds !== undefined)) return oneWayTable(rows);
  return renderTable(
    ['src', 'dst', 'shaped', 'measured', 'latency (median)', 'connectivity'],
    rows.map((row) => [
      row.src,
      row.dst,
      formatBitsPerSecond(row.shapedBitsPerSecond),
      formatBitsPerSecond(row.measuredBitsPerSecond),
      formatSeconds(row.latencySeconds),
      connectivityCell(row),
    ]),
  );
}

/** The latest graph set from S3 into DIR/graphs, so it stays after the stack stops. */
async function copyGraphs(store: ObjectStore, graphs: RenderReport, out: string): Promise<string> {
  const graphDir = join(out, 'graphs');
  await mkdir(graphDir, { recursive: true });
  for (const format of Object.keys(GRAPH_FORMATS) as GraphFormat[]) {
    const bytes = await store.getBytes(graphs.stored.latest[format]);
    await writeFile(join(graphDir, `graph.${format}`), bytes ?? '');
  }
  return graphDir;
}

/** DIR/summary.json: the pairs, the graph URLs and where the stack listens. */
async function writeSummary(
  rows: readonly DemoPair[],
  graphs: RenderReport,
  stack: LocalStack,
  out: string,
  running: boolean,
  roundSeconds: number | null,
  sweep: DemoSweep,
): Promise<string> {
  const summaryPath = join(out, 'summary.json');
  const summary = {
    schedule: SCHEDULE,
    roundSeconds,
    pairs: rows,
    sweep: sweep.pairs,
    graphs: graphs.urls,
    ...(graphs.links === undefined ? {} : { graphLinks: graphs.links }),
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
      running,
    },
  };
  await writeFile(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  return summaryPath;
}

export interface ReportOptions {
  /** Write DIR/summary.json (the user asked for --out). */
  writeSummary: boolean;
  keep: boolean;
  round: RoundTime;
  sweep: DemoSweep;
}

export async function report(
  rows: DemoPair[],
  graphs: RenderReport,
  stack: LocalStack,
  store: ObjectStore,
  out: string,
  options: ReportOptions,
): Promise<void> {
  rows.sort((a, b) => a.src.localeCompare(b.src) || a.dst.localeCompare(b.dst));
  const graphDir = await copyGraphs(store, graphs, out);
  const lines = [
    table(rows),
    '',
    sweepMatrix(options.sweep),
    '',
    `round:           ${rows.length} pairs in ${options.round.seconds === null ? '-' : `${options.round.seconds.toFixed(1)} s`} (${describeConcurrency(options.round.concurrency)})`,
    `archives (S3):   ${store.urlFor(`archives/${SCHEDULE}/`)}  (s3rver folder ${stack.s3Directory})`,
    ...Object.entries(graphs.urls).map(([format, url]) => `graph ${format.padEnd(8)} ${url}`),
    // NETMON_GRAPH_LINK_SECONDS: presigned links, as render's report has them.
    ...(graphs.links === undefined
      ? []
      : [
          `links (presigned, open until ${graphs.links.expiresAt}):`,
          ...Object.entries(graphs.links.urls).map(([file, url]) => `link  ${file.padEnd(17)} ${url}`),
        ]),
    `graphs (local):  ${graphDir}`,
    `metrics:         ${stack.prometheusUrl}/graph?g0.expr=netmon_connectivity`,
  ];
  if (!options.keep)
    lines.push(
      '(the stack stops now: run with --keep to browse these URLs; the files stay in the folders above)',
    );
  if (options.writeSummary)
    lines.push(
      `summary:         ${await writeSummary(rows, graphs, stack, out, options.keep, options.round.seconds, options.sweep)}`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

function describeConcurrency(concurrency: Concurrency): string {
  if (concurrency.mode === 'serial') return 'serial: one test at a time';
  return `disjoint: node-disjoint slots${concurrency.maxParallel === undefined ? '' : `, at most ${concurrency.maxParallel} at once`}`;
}

export async function holdUntilInterrupted(stack: LocalStack): Promise<void> {
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
