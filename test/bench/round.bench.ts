/**
 * Overhead per test and the disjoint round ratio (issue 12, section 3).
 *
 * Overhead per test: the wall time of one probe cycle (receive to lock
 * release) minus flent's own process time, median over a serial round,
 * phase by phase (ProbeDeps.onPhase, RunHooks.onPhase), for the local runner
 * (8 simulated nodes: network namespaces, tbf) and for the Kubernetes runner
 * (the local real cluster: 3 nodes with real kubelets and containerd, the
 * Flent image's pods). Targets: under 0.5 s (local), under 2 s (Kubernetes).
 *
 * Round ratio: 4 and 8 nodes, a serial round and a disjoint one
 * (maxParallel 4) in the same run, local runner; the target at 8 nodes is
 * disjoint <= 0.35 x serial (ideal 2(N-1) slots for N(N-1) tests: 0.25).
 *
 * Real peers throughout: s3rver, local-aws-sqs, the Pushgateway; plan and
 * probe run in this process through the product's wiring (so the phases can
 * be heard); the bench starts and removes everything itself (root needed).
 * Tests are short (tcp_upload 2 s, the shortest flent allows; no flent
 * delay): the overhead is what is measured. The section takes 6-13 minutes
 * on 2 cores, most of it the 8-node serial round's 56 tests (plus a cold
 * build of the cluster's binaries and images the first time).
 * NETMON_BENCH_ROUND=local or =kubernetes runs one part.
 *
 * The Kubernetes part runs the agent as the Flent image has it: the image
 * takes dist/ as built (`npm run build` first for the current sources).
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { CHART_NAMESPACE, S3_CREDENTIALS_SECRET } from '../../infra/cluster/cluster.ts';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { log } from '../../layers/core/log.ts';
import type { TestRecord } from '../../layers/domain/record.ts';
import { type Concurrency, type Schedule, SERIAL } from '../../layers/domain/schedule.ts';
import { plan } from '../../layers/pipeline/plan.ts';
import { type ProbeReport, probe } from '../../layers/pipeline/probe.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import { planDepsFrom, probeDepsFrom, schedulesFrom, storeFrom } from '../../layers/wiring/context.ts';
import { startCluster } from '../helpers/cluster.ts';
import { relativeDifference } from '../helpers/flent-stats.ts';
import { startStackFixture } from '../helpers/local-stack.ts';
import { roundRecords, sharedNodeOverlaps } from '../helpers/rounds.ts';
import { serverSideApply } from '../k8s/apply.ts';
import { line } from './report.ts';
import { breakdown, cyclesOf, idealRatio, type PhaseEvent, spanMs } from './round-phases.ts';

/** The shortest tcp_upload flent takes here (layers/flent/spec.ts). */
const LENGTH_SECONDS = 2;
/** Every node's egress: low enough that four tests at once do not need the CPU more than their start-ups do. */
const RATE_BITS_PER_SECOND = 50e6;
const MAX_PARALLEL = 4;
const LOCAL_GOAL_MS = 500;
const KUBERNETES_GOAL_MS = 2000;
const RATIO_GOAL = 0.35;

const names = (count: number): string[] => Array.from({ length: count }, (_, i) => `n${i + 1}`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

interface RoundRun {
  events: PhaseEvent[];
  report: ProbeReport;
  /** First phase's start to last phase's end. */
  ms: number;
  /** CPU time of this process (probe, s3rver, SQS) and of its finished children (flent, netperf, servers). */
  cpuMs: number;
  /** A disjoint round's solo check: one more test, alone, after the slots. */
  solo: boolean;
  /** Without the solo check: to the start of its message's receive, the round's last. */
  slotsMs: number;
  /** The round's stored results (the solo check's is not among them). */
  records: TestRecord[];
}

/** CPU used so far by this process and by the children it has reaped (utime, stime, cutime, cstime). */
async function cpuMs(): Promise<number> {
  const own = process.cpuUsage();
  // Fields after the command name's closing parenthesis start at field 3; cutime and cstime are 16 and 17.
  const stat = await readFile('/proc/self/stat', 'utf8');
  const [cutime, cstime] = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .slice(13, 15)
    .map(Number);
  return (own.user + own.system) / 1000 + (((cutime ?? 0) + (cstime ?? 0)) * 1000) / CLOCK_TICKS;
}
/** USER_HZ: what /proc counts CPU time in, 100 on every Linux architecture we run on. */
const CLOCK_TICKS = 100;

/** plan opens the schedule's round, one probe runs it to the end; every phase heard. */
async function runRound(env: NodeJS.ProcessEnv, schedules: readonly Schedule[]): Promise<RoundRun> {
  await plan(await planDepsFrom(env), schedules);
  const events: PhaseEvent[] = [];
  const cpuBefore = await cpuMs();
  const report = await probe({
    ...(await probeDepsFrom(env)),
    waitSeconds: 1,
    onPhase: (phase, startedAt, endedAt, pair) =>
      events.push({ phase, startedAt, endedAt, pair: `${pair.src}>${pair.dst}` }),
    onTest: (event) => {
      // A failed test has no flent phase: it stays out of the medians, and says why here.
      if (event.kind === 'finished' && event.record.connectivity === 0)
        line(
          `  FAILED ${event.record.src}>${event.record.dst}`,
          `${event.record.reason}: ${event.record.message}`,
        );
    },
  });
  if (report.tests - report.failures === 0)
    throw new Error(`a bench round measured nothing: ${JSON.stringify(report)}`);
  const cpu = (await cpuMs()) - cpuBefore;
  const store = storeFrom(env);
  const manifest = await latestManifest(store, schedules[0]?.name ?? '');
  const records = manifest === undefined ? [] : await roundRecords(store, manifest.schedule, manifest.round);
  const solo = manifest?.solo !== undefined;
  const start = Math.min(...events.map((e) => e.startedAt));
  const lastReceive = Math.max(...events.filter((e) => e.phase === 'receive').map((e) => e.startedAt));
  const ms = spanMs(events);
  return { events, report, ms, cpuMs: cpu, solo, slotsMs: solo ? lastReceive - start : ms, records };
}

/**
 * What makes a round's figures worth timing, checked on its records: every
 * ordered pair once, no node in two tests at once, every rate within 10 % of
 * its shaping. A round that fails one stops the bench.
 */
function checkRound(title: string, run: RoundRun, nodes: number): void {
  const pairs = new Set(run.records.map((r) => `${r.src}>${r.dst}`));
  const overlaps = sharedNodeOverlaps(run.records);
  const offRate = run.records.filter(
    (r) => relativeDifference(r.summary?.throughput.upload.total?.mean ?? 0, RATE_BITS_PER_SECOND) >= 0.1,
  );
  const expected = nodes * (nodes - 1);
  line(
    `  ${title} checks`,
    `${pairs.size} of ${expected} pairs, ${run.records.length} results; ${overlaps.length} node overlaps; ${run.records.length - offRate.length}/${run.records.length} rates within 10 %`,
  );
  if (pairs.size !== expected || run.records.length !== expected || overlaps.length > 0 || offRate.length > 0)
    throw new Error(
      `${title}: pairs ${pairs.size}/${expected}, overlaps ${overlaps.join('; ')}, off rate ${offRate.map((r) => `${r.src}>${r.dst}`).join(' ')}`,
    );
}

function printRound(title: string, run: RoundRun): void {
  const { tests } = run.report;
  line(
    `  ${title}: ${tests} tests${run.solo ? ' (1 solo)' : ''}`,
    `${seconds(run.ms)}, CPU ${seconds(run.cpuMs)} (${seconds(run.cpuMs / tests)} per test)  load ${load()}`,
  );
}

function printBreakdown(title: string, run: RoundRun, goalMs: number): void {
  const result = breakdown(cyclesOf(run.events));
  process.stdout.write(`## ${title}: ${result.tests} tests, medians\n`);
  line('  cycle (receive to lock release)', seconds(result.cycleMs));
  line(
    '  flent (its own process)',
    `${seconds(result.flentMs)} (the test's ${LENGTH_SECONDS} s + ${seconds(result.flentMs - LENGTH_SECONDS * 1000)} of flent's start and finish)`,
  );
  line(
    '  overhead per test (cycle - flent)',
    `${seconds(result.overheadMs)} (target < ${seconds(goalMs)}: ${result.overheadMs < goalMs ? 'met' : 'MISSED'})`,
  );
  for (const { row, ms } of result.rows) line(`    ${row}`, `${ms.toFixed(0)} ms`);
}

function schedule(name: string, concurrency: Concurrency): Schedule {
  return {
    name,
    cron: '* * * * *',
    test: 'tcp_upload',
    lengthSeconds: LENGTH_SECONDS,
    delaySeconds: 0,
    concurrency,
  };
}

/** The local runner on 8 simulated nodes: the ratio at 4 and 8 nodes, the phases of the serial 8-node round. */
async function localRunner(): Promise<void> {
  const fixture = await startStackFixture();
  let cluster: SimCluster | undefined;
  try {
    cluster = await SimCluster.create({
      nodes: names(8).map((name) => ({ name, rateBitsPerSecond: RATE_BITS_PER_SECOND })),
    });
    const { env } = fixture;
    process.stdout.write(
      `## local runner: ${cluster.nodes.length} simulated nodes at ${RATE_BITS_PER_SECOND / 1e6} Mbit/s, tcp_upload ${LENGTH_SECONDS} s\n`,
    );
    let serial8: RoundRun | undefined;
    for (const count of [4, 8]) {
      await fixture.writeNodes(cluster.clusterNodes().slice(0, count));
      const serial = await runRound(env, [schedule(`serial-${count}`, SERIAL)]);
      printRound(`${count} nodes serial`, serial);
      checkRound(`${count} nodes serial`, serial, count);
      const disjoint = await runRound(env, [
        schedule(`disjoint-${count}`, { mode: 'disjoint', maxParallel: MAX_PARALLEL }),
      ]);
      printRound(`${count} nodes disjoint (max ${MAX_PARALLEL})`, disjoint);
      checkRound(`${count} nodes disjoint`, disjoint, count);
      const ratio = disjoint.ms / serial.ms;
      const ideal = idealRatio(count, MAX_PARALLEL);
      const tests = count * (count - 1);
      line(
        `  ${count} nodes disjoint / serial`,
        `${ratio.toFixed(3)} (ideal 2(N-1)/(N(N-1)) = ${ideal.toFixed(3)}${disjoint.solo ? `, ${(ideal + 1 / tests).toFixed(3)} with the solo check` : ''}${count === 8 ? `; target <= ${RATIO_GOAL}: ${ratio <= RATIO_GOAL ? 'met' : 'MISSED'}` : ''})`,
      );
      if (disjoint.solo)
        line(
          `  ${count} nodes disjoint / serial, slots only`,
          `${(disjoint.slotsMs / serial.ms).toFixed(3)} (without the solo check's ${seconds(disjoint.ms - disjoint.slotsMs)})`,
        );
      // Two cores, shared with whatever else runs: a round cannot take less than its CPU over them.
      line(
        `  ${count} nodes disjoint: CPU / ${availableParallelism()} cores`,
        `${seconds(disjoint.cpuMs / availableParallelism())} of its ${seconds(disjoint.ms)}`,
      );
      // A slot lasts as long as its slowest test: what the tests' start-ups at once do to flent's own time.
      const flentOf = (run: RoundRun): number => breakdown(cyclesOf(run.events)).flentMs;
      line(
        `  ${count} nodes flent's own time, median`,
        `${seconds(flentOf(disjoint))} in slots of ${Math.min(count / 2, MAX_PARALLEL)}, ${seconds(flentOf(serial))} alone`,
      );
      if (count === 8) serial8 = serial;
    }
    if (serial8 !== undefined)
      printBreakdown('local runner, serial round of 8 nodes', serial8, LOCAL_GOAL_MS);
  } finally {
    await cluster?.destroy();
    await fixture.stop();
  }
}

const CRD = fileURLToPath(new URL('../../k8s/netmon/crds/testschedule.yaml', import.meta.url));

/**
 * The Kubernetes runner on the local real cluster, wired as the probe's
 * CronJob wires it (test pods, the Lease, TestSchedule status), with the
 * cluster admin's kubeconfig.
 */
async function kubernetesRunner(): Promise<void> {
  const nodes = 3;
  const started = performance.now();
  const cluster = await startCluster({ nodes, ratesMbit: Array(nodes).fill(RATE_BITS_PER_SECOND / 1e6) });
  try {
    process.stdout.write(
      `## Kubernetes runner: ${nodes} nodes up in ${seconds(performance.now() - started)} (${cluster.info.startup.cold ? 'cold' : 'warm'}), tcp_upload ${LENGTH_SECONDS} s\n`,
    );
    const { endpoints } = cluster.info;
    await serverSideApply(cluster.kubeconfig, await readFile(CRD, 'utf8'), { namespace: CHART_NAMESPACE });
    await cluster.kubeconfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: 'netmon.erigrid.eu',
      version: 'v1alpha1',
      namespace: CHART_NAMESPACE,
      plural: 'testschedules',
      body: {
        apiVersion: 'netmon.erigrid.eu/v1alpha1',
        kind: 'TestSchedule',
        metadata: { name: 'bench' },
        spec: { schedule: '* * * * *', test: 'tcp_upload', length: LENGTH_SECONDS, delay: 0 },
      },
    });
    const secret = await cluster.core.readNamespacedSecret({
      name: S3_CREDENTIALS_SECRET,
      namespace: CHART_NAMESPACE,
    });
    const credential = (key: string): string => Buffer.from(secret.data?.[key] ?? '', 'base64').toString();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NETMON_RUNNER: 'kubernetes',
      KUBECONFIG: cluster.info.kubeconfig,
      NETMON_NAMESPACE: CHART_NAMESPACE,
      NETMON_POD_NAME: 'bench-probe',
      NETMON_IMAGE: cluster.flentImage,
      NETMON_S3_CREDENTIALS_SECRET: S3_CREDENTIALS_SECRET,
      NETMON_S3_BUCKET: endpoints.s3Bucket,
      NETMON_S3_ENDPOINT: endpoints.s3,
      NETMON_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: credential('AWS_ACCESS_KEY_ID'),
      AWS_SECRET_ACCESS_KEY: credential('AWS_SECRET_ACCESS_KEY'),
      NETMON_SQS_ENDPOINT: endpoints.sqs,
      NETMON_SQS_QUEUE_URL: endpoints.sqsQueueUrl,
      NETMON_PUSHGATEWAY_URL: endpoints.pushgateway,
      NETMON_SERVER_READY_TIMEOUT_SECONDS: '30',
    };
    const run = await runRound(env, await (await schedulesFrom(env)).list());
    printRound('serial round', run);
    printBreakdown(`Kubernetes runner, serial round of ${nodes} nodes`, run, KUBERNETES_GOAL_MS);
  } finally {
    await cluster.down();
  }
}

/** NETMON_BENCH_ROUND=local or =kubernetes runs one part only (default: both). */
const PARTS = { local: localRunner, kubernetes: kubernetesRunner };

export default async function round(): Promise<void> {
  // The functions' info lines (a line per plan and probe) would bury the figures.
  const level = log.level;
  if (process.env.LOG_LEVEL === undefined) log.level = 'warn';
  const only = process.env.NETMON_BENCH_ROUND;
  try {
    line('load average (1, 5, 15 min) at start', load());
    for (const [name, part] of Object.entries(PARTS)) if (only === undefined || only === name) await part();
    line('load average (1, 5, 15 min) at end', load());
  } finally {
    log.level = level;
  }
}
