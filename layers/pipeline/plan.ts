import { log } from '../core/log.ts';
import { orderedPairs, type Pair, pairKey, spreadPairs } from '../core/pairs.ts';
import type { WorkQueue } from '../queue/work-queue.ts';
import { compactTime } from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';
import type { NodeSource } from './nodes.ts';
import {
  countPairs,
  isFinished,
  latestManifest,
  type RoundManifest,
  type RoundPair,
  saveManifest,
} from './round.ts';
import { latestTick, type Schedule } from './schedules.ts';

export interface PlanDeps {
  store: ObjectStore;
  queue: WorkQueue;
  nodes: NodeSource;
  now?: () => Date;
  /** A pair queued this long ago without a result is queued again (its message was lost or dead-lettered). */
  requeueAfterSeconds?: number;
}

export type PlanOutcome =
  | { schedule: string; action: 'opened'; round: string; queued: number }
  | { schedule: string; action: 'requeued'; round: string; queued: number }
  | { schedule: string; action: 'waiting'; round: string; remaining: number }
  | { schedule: string; action: 'not-due' | 'suspended' | 'too-few-nodes'; round: string | null };

/**
 * plan: for each schedule, open a round when it is due and none is open, and
 * queue every ordered pair of Ready nodes not yet tested in it: the stalest
 * first, spread so one node is not in two consecutive tests when avoidable.
 */
export async function plan(deps: PlanDeps, schedules: readonly Schedule[]): Promise<PlanOutcome[]> {
  const outcomes: PlanOutcome[] = [];
  for (const schedule of schedules) {
    const outcome = await planSchedule(deps, schedule);
    log.info(outcome, 'plan');
    outcomes.push(outcome);
  }
  return outcomes;
}

async function planSchedule(deps: PlanDeps, schedule: Schedule): Promise<PlanOutcome> {
  const now = (deps.now ?? (() => new Date()))();
  const latest = await latestManifest(deps.store, schedule.name);
  if (latest !== undefined && latest.closedAt === null) {
    if (!latest.pairs.every(isFinished)) return continueRound(deps, latest, now);
    // Every pair has its result but the probe that finished the round died before closing it.
    latest.closedAt = now.toISOString();
    await saveManifest(deps.store, latest);
  }
  if (schedule.suspend) return { schedule: schedule.name, action: 'suspended', round: latest?.round ?? null };
  const tick = latestTick(schedule, now);
  if (latest !== undefined && new Date(latest.scheduledAt) >= tick) {
    return { schedule: schedule.name, action: 'not-due', round: latest.round };
  }
  const nodes = (await deps.nodes.list()).filter((n) => n.ready).map((n) => n.name);
  if (nodes.length < 2)
    return { schedule: schedule.name, action: 'too-few-nodes', round: latest?.round ?? null };
  const pairs = spreadPairs(stalestFirst(orderedPairs(nodes.sort()), latest));
  const manifest: RoundManifest = {
    version: 1,
    schedule: schedule.name,
    round: compactTime(tick),
    test: schedule.test,
    lengthSeconds: schedule.lengthSeconds,
    delaySeconds: schedule.delaySeconds ?? null,
    cron: schedule.cron,
    scheduledAt: tick.toISOString(),
    openedAt: now.toISOString(),
    closedAt: null,
    nodes,
    pairs: pairs.map((pair) => queuedPair(pair, now)),
    counts: countPairs([]),
  };
  // The manifest first: a probe that gets a message must find its round.
  await saveManifest(deps.store, manifest);
  await enqueue(deps, schedule, manifest, pairs);
  return { schedule: schedule.name, action: 'opened', round: manifest.round, queued: pairs.length };
}

/** Pairs never tested first, then by the time of their last test in the previous round. */
function stalestFirst(pairs: Pair[], previous: RoundManifest | undefined): Pair[] {
  const lastTested = new Map<string, string>();
  for (const pair of previous?.pairs ?? [])
    if (pair.finishedAt !== null) lastTested.set(pairKey(pair), pair.finishedAt);
  return [...pairs].sort((a, b) =>
    (lastTested.get(pairKey(a)) ?? '').localeCompare(lastTested.get(pairKey(b)) ?? ''),
  );
}

function queuedPair(pair: Pair, now: Date): RoundPair {
  return {
    src: pair.src,
    dst: pair.dst,
    state: 'queued',
    queuedAt: now.toISOString(),
    startedAt: null,
    finishedAt: null,
    attempts: 0,
    runId: null,
    connectivity: null,
    reason: null,
  };
}

async function continueRound(deps: PlanDeps, manifest: RoundManifest, now: Date): Promise<PlanOutcome> {
  const requeueAfterMs = (deps.requeueAfterSeconds ?? 3600) * 1000;
  const lost = manifest.pairs.filter(
    (p) => p.state === 'queued' && now.getTime() - new Date(p.queuedAt).getTime() > requeueAfterMs,
  );
  const remaining = manifest.pairs.filter((p) => p.state === 'queued').length;
  if (lost.length === 0)
    return { schedule: manifest.schedule, action: 'waiting', round: manifest.round, remaining };
  for (const pair of lost) pair.queuedAt = now.toISOString();
  await saveManifest(deps.store, manifest);
  const schedule = {
    name: manifest.schedule,
    test: manifest.test,
    lengthSeconds: manifest.lengthSeconds,
    ...(manifest.delaySeconds === null ? {} : { delaySeconds: manifest.delaySeconds }),
  };
  await enqueue(deps, schedule, manifest, lost);
  return { schedule: manifest.schedule, action: 'requeued', round: manifest.round, queued: lost.length };
}

async function enqueue(
  deps: PlanDeps,
  schedule: Pick<Schedule, 'name' | 'test' | 'lengthSeconds' | 'delaySeconds'>,
  manifest: RoundManifest,
  pairs: readonly Pair[],
): Promise<void> {
  await deps.queue.send(
    pairs.map((pair) => ({
      schedule: schedule.name,
      round: manifest.round,
      src: pair.src,
      dst: pair.dst,
      test: schedule.test,
      lengthSeconds: schedule.lengthSeconds,
      ...(schedule.delaySeconds === undefined ? {} : { delaySeconds: schedule.delaySeconds }),
    })),
  );
}
