import { log } from '../core/log.ts';
import { latestTick, matchesSelector } from '../core/schedules.ts';
import type { NodeSource } from '../domain/nodes.ts';
import { disjointSlots, orderedPairs, type Pair, pairKey, spreadPairs } from '../domain/pairs.ts';
import {
  countPairs,
  isFinished,
  type PlanOutcome,
  type RoundManifest,
  type RoundObserver,
  type RoundPair,
} from '../domain/round.ts';
import { type Concurrency, type Schedule, SERIAL } from '../domain/schedule.ts';
import type { WorkQueue } from '../queue/work-queue.ts';
import { compactTime } from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';
import { latestManifest, saveManifest } from './round.ts';

export interface PlanDeps {
  store: ObjectStore;
  queue: WorkQueue;
  nodes: NodeSource;
  now?: () => Date;
  /** A pair queued this long ago without a result is queued again (its message was lost or dead-lettered). */
  requeueAfterSeconds?: number;
  /** Told what plan decided for each schedule (the TestSchedule status in a cluster). */
  observer?: RoundObserver;
}

/**
 * plan: for each schedule, open a round when it is due and none is open, and
 * queue every ordered pair of Ready nodes not yet tested in it: the stalest
 * first, spread so one node is not in two consecutive tests when avoidable.
 */
export async function plan(deps: PlanDeps, schedules: readonly Schedule[]): Promise<PlanOutcome[]> {
  const outcomes: PlanOutcome[] = [];
  for (const schedule of schedules) {
    const { outcome, manifest } = await planSchedule(deps, schedule);
    log.info(outcome, 'plan');
    outcomes.push(outcome);
    await deps.observer?.planned(outcome, manifest);
  }
  return outcomes;
}

interface Planned {
  outcome: PlanOutcome;
  /** The schedule's newest round after planning, if it has one. */
  manifest: RoundManifest | undefined;
}

async function planSchedule(deps: PlanDeps, schedule: Schedule): Promise<Planned> {
  const now = (deps.now ?? (() => new Date()))();
  const latest = await latestManifest(deps.store, schedule.name);
  if (latest !== undefined && latest.closedAt === null) {
    if (!latest.pairs.every(isFinished))
      return { outcome: await continueRound(deps, latest, now), manifest: latest };
    // Every pair has its result but the probe that finished the round died before closing it.
    latest.closedAt = now.toISOString();
    await saveManifest(deps.store, latest);
  }
  const unchanged = (outcome: PlanOutcome): Planned => ({ outcome, manifest: latest });
  if (schedule.suspend)
    return unchanged({ schedule: schedule.name, action: 'suspended', round: latest?.round ?? null });
  const tick = latestTick(schedule, now);
  if (latest !== undefined && new Date(latest.scheduledAt) >= tick) {
    return unchanged({ schedule: schedule.name, action: 'not-due', round: latest.round });
  }
  const all = await deps.nodes.list();
  const nodes = all
    .filter((n) => n.ready && matchesSelector(n.labels, schedule.nodeSelector))
    .map((n) => n.name);
  if (nodes.length < 2)
    return unchanged({
      schedule: schedule.name,
      action: 'too-few-nodes',
      round: latest?.round ?? null,
      message: tooFewNodes(all.length, nodes.length, schedule.nodeSelector),
    });
  const concurrency = schedule.concurrency ?? SERIAL;
  const slots =
    concurrency.mode === 'disjoint'
      ? disjointSlots(nodes.sort(), concurrency.maxParallel)
      : spreadPairs(stalestFirst(orderedPairs(nodes.sort()), latest)).map((pair) => [pair]);
  const pairs = slots.flat();
  const slotOf = new Map(slots.flatMap((slot, index) => slot.map((pair) => [pairKey(pair), index] as const)));
  const manifest: RoundManifest = {
    version: 1,
    schedule: schedule.name,
    round: compactTime(tick),
    test: schedule.test,
    lengthSeconds: schedule.lengthSeconds,
    delaySeconds: schedule.delaySeconds ?? null,
    hostNetwork: schedule.hostNetwork ?? null,
    timeoutSeconds: schedule.timeoutSeconds ?? null,
    nodeSelector: schedule.nodeSelector ?? {},
    cron: schedule.cron,
    scheduledAt: tick.toISOString(),
    openedAt: now.toISOString(),
    closedAt: null,
    nodes,
    pairs: pairs.map((pair) =>
      concurrency.mode === 'disjoint'
        ? { ...queuedPair(pair, now), slot: slotOf.get(pairKey(pair)) as number }
        : queuedPair(pair, now),
    ),
    counts: countPairs([]),
    concurrency,
  };
  // The manifest first: a probe that gets a message must find its round.
  await saveManifest(deps.store, manifest);
  await enqueue(deps, manifest, manifest.pairs);
  return {
    outcome: { schedule: schedule.name, action: 'opened', round: manifest.round, queued: pairs.length },
    manifest,
  };
}

function tooFewNodes(known: number, matching: number, selector: Record<string, string> = {}): string {
  const labels = Object.entries(selector).map(([k, v]) => `${k}=${v}`);
  const which = labels.length === 0 ? 'Ready' : `Ready and labelled ${labels.join(',')} (nodeSelector)`;
  return `${matching} of ${known} nodes are ${which}; a round needs at least 2`;
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
  await enqueue(deps, manifest, lost);
  return { schedule: manifest.schedule, action: 'requeued', round: manifest.round, queued: lost.length };
}

/**
 * One message per pair (serial) or per slot (disjoint: the slot's pairs not
 * yet tested); what to run comes from the round's manifest, so a requeue
 * runs the same test.
 */
async function enqueue(deps: PlanDeps, manifest: RoundManifest, pairs: readonly RoundPair[]): Promise<void> {
  const common = {
    schedule: manifest.schedule,
    round: manifest.round,
    test: manifest.test,
    lengthSeconds: manifest.lengthSeconds,
    ...(manifest.delaySeconds === null ? {} : { delaySeconds: manifest.delaySeconds }),
    ...(manifest.hostNetwork === null ? {} : { hostNetwork: manifest.hostNetwork }),
    ...(manifest.timeoutSeconds === null ? {} : { timeoutSeconds: manifest.timeoutSeconds }),
  };
  if (!isDisjoint(manifest.concurrency)) {
    await deps.queue.send(pairs.map((pair) => ({ ...common, src: pair.src, dst: pair.dst })));
    return;
  }
  const slots = new Map<number, Pair[]>();
  for (const pair of pairs) {
    const slot = slots.get(pair.slot ?? 0) ?? [];
    slot.push({ src: pair.src, dst: pair.dst });
    slots.set(pair.slot ?? 0, slot);
  }
  await deps.queue.send(
    [...slots.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, slotPairs]) => {
        const [first] = slotPairs as [Pair, ...Pair[]];
        return { ...common, src: first.src, dst: first.dst, slot: { index, pairs: slotPairs } };
      }),
  );
}

function isDisjoint(concurrency: Concurrency | undefined): boolean {
  return concurrency?.mode === 'disjoint';
}
