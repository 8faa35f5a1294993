import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { LocalStack } from '../../../../infra/local-stack/stack.ts';
import type { SimCluster } from '../../../../infra/rig/sim-cluster.ts';
import { waitFor } from '../../../../layers/core/process.ts';
import type { TestRecord } from '../../../../layers/domain/record.ts';
import type { Concurrency } from '../../../../layers/domain/schedule.ts';
import type { TestName } from '../../../../layers/domain/test-types.ts';
import { queryLatestPairs } from '../../../../layers/metrics/query.ts';
import { plan } from '../../../../layers/pipeline/plan.ts';
import { type ProbeEvent, probe } from '../../../../layers/pipeline/probe.ts';
import { type RenderReport, render } from '../../../../layers/pipeline/render.ts';
import { latestManifest } from '../../../../layers/pipeline/round.ts';
import type { ObjectStore } from '../../../../layers/store/s3-store.ts';
import { planDepsFrom, probeDepsFrom, renderDepsFrom } from '../../../../layers/wiring/context.ts';

/** The demo's one round: its settings, plan -> probe with a progress bar, render once Prometheus has it. */

export const SCHEDULE = 'demo';

export interface RoundOptions {
  length: number;
  delay: number;
  concurrency: Concurrency;
}

export async function demoEnv(
  stack: LocalStack,
  cluster: SimCluster,
  out: string,
  test: TestName,
  options: RoundOptions,
): Promise<NodeJS.ProcessEnv> {
  const nodesFile = join(out, 'nodes.json');
  await writeFile(nodesFile, JSON.stringify(cluster.clusterNodes(), null, 2));
  return {
    ...process.env,
    ...stack.env,
    NETMON_NODES_FILE: nodesFile,
    NETMON_SCHEDULES: JSON.stringify([
      {
        name: SCHEDULE,
        cron: '* * * * *',
        test,
        lengthSeconds: options.length,
        delaySeconds: options.delay,
        concurrency: options.concurrency,
      },
    ]),
    NETMON_LOCK_FILE: join(out, 'test.lock'),
    NETMON_WORK_DIR: join(out, 'runs'),
    NETMON_CLUSTER_NAME: 'demo',
  };
}

/** plan, then probe until the round is done, with a progress bar on stderr. */
export async function runRound(env: NodeJS.ProcessEnv, nodeCount: number): Promise<TestRecord[]> {
  const { parseSchedules } = await import('../../../../layers/core/schedules.ts');
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
export async function renderWhenVisible(
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

/** How the round ran and how long it took: from its opening to its last result. */
export interface RoundTime {
  concurrency: Concurrency;
  seconds: number | null;
}

export async function roundTime(store: ObjectStore, concurrency: Concurrency): Promise<RoundTime> {
  const manifest = await latestManifest(store, SCHEDULE);
  const finished = (manifest?.pairs ?? []).flatMap((p) =>
    p.finishedAt === null ? [] : [Date.parse(p.finishedAt)],
  );
  if (manifest === undefined || finished.length === 0) return { concurrency, seconds: null };
  return { concurrency, seconds: (Math.max(...finished) - Date.parse(manifest.openedAt)) / 1000 };
}
