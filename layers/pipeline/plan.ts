import { z } from 'zod';
import { errorLine, NetmonError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { latestTick, matchesSelector, nextTick } from '../core/schedules.ts';
import type { NodeSource } from '../domain/nodes.ts';
import { disjointSlots, orderedPairs, type Pair, pairKey, spreadPairs } from '../domain/pairs.ts';
import {
  countPairs,
  healthyRoundSeconds,
  isFinished,
  type PlanOutcome,
  queuedPair,
  type RoundManifest,
  type RoundObserver,
  type RoundPair,
  roundComplete,
  type SoloCheck,
} from '../domain/round.ts';
import { type Concurrency, type Schedule, SERIAL } from '../domain/schedule.ts';
import { nextSoloPair } from '../domain/solo.ts';
import { SendError, type WorkQueue } from '../queue/work-queue.ts';
import { compactTime, PRUNED_AT_KEY } from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';
import { latestManifest, saveHead, saveNewRound, savePairEvent, saveSoloEvent } from './round.ts';

export interface PlanDeps {
  store: ObjectStore;
  queue: WorkQueue;
  nodes: NodeSource;
  now?: () => Date;
  /** A pair queued this long ago without a result is queued again (its message was lost or dead-lettered). */
  requeueAfterSeconds?: number;
  /**
   * A round open this long is closed, its untested pairs skipped
   * (round-deadline). Absent: the first cron tick after the round's healthy
   * length (layers/domain/round.ts healthyRoundSeconds).
   */
  roundDeadlineSeconds?: number;
  /** Told what plan decided for each schedule (the TestSchedule status in a cluster). */
  observer?: RoundObserver;
  /**
   * Deletes the Pushgateway groups of nodes and schedules gone for longer
   * than the retention (layers/metrics/prune.ts); plan calls it at most
   * once an hour. Absent without a Pushgateway.
   */
  pruneGroups?: (nodes: readonly string[], schedules: readonly string[], now: Date) => Promise<void>;
}

/**
 * plan: for each schedule, open a round when it is due and none is open, and
 * queue every ordered pair of Ready nodes not yet tested in it: the stalest
 * first, spread so one node is not in two consecutive tests when avoidable.
 */
export async function plan(deps: PlanDeps, schedules: readonly Schedule[]): Promise<PlanOutcome[]> {
  const outcomes: PlanOutcome[] = [];
  for (const schedule of schedules) {
    // One schedule's trouble (a truncated manifest, a store error) must not stop the others.
    const { outcome, manifest } = await planSchedule(deps, schedule).catch(
      (err): Planned => ({
        outcome: { schedule: schedule.name, action: 'failed', round: null, message: errorLine(err) },
        manifest: undefined,
      }),
    );
    if (outcome.action === 'failed') log.error(outcome, 'plan');
    else log.info(outcome, 'plan');
    outcomes.push(outcome);
    await deps.observer?.planned(outcome, manifest);
  }
  await pruneHourly(deps, schedules).catch((err) =>
    log.warn({ err: errorLine(err) }, 'Pushgateway groups not pruned; next hour again'),
  );
  return outcomes;
}

const PRUNE_EVERY_MS = 3600_000;
const prunedAtSchema = z.object({ at: z.string() });

/** Once an hour (the last time in a small object), the gateway's groups of what is gone are deleted. */
async function pruneHourly(deps: PlanDeps, schedules: readonly Schedule[]): Promise<void> {
  if (deps.pruneGroups === undefined) return;
  const now = (deps.now ?? (() => new Date()))();
  const last = await deps.store.getJson(PRUNED_AT_KEY, prunedAtSchema).catch(() => undefined);
  if (last !== undefined && now.getTime() - Date.parse(last.at) < PRUNE_EVERY_MS) return;
  const nodes = (await deps.nodes.list()).map((n) => n.name);
  await deps.pruneGroups(
    nodes,
    schedules.map((s) => s.name),
    now,
  );
  await deps.store.putJson(PRUNED_AT_KEY, { at: now.toISOString() });
}

/** The schedules plan could not plan, as one error (after the others were planned). */
export function planFailures(outcomes: readonly PlanOutcome[]): PlanError | undefined {
  const failed = outcomes.filter((o) => o.action === 'failed');
  if (failed.length === 0) return undefined;
  const lines = failed.map((o) => `${o.schedule}: ${'message' in o ? o.message : ''}`);
  return new PlanError(`${failed.length} of ${outcomes.length} schedules not planned: ${lines.join('; ')}`);
}

export class PlanError extends NetmonError {
  override name = 'PlanError';
}

interface Planned {
  outcome: PlanOutcome;
  /** The schedule's newest round after planning, if it has one. */
  manifest: RoundManifest | undefined;
}

async function planSchedule(deps: PlanDeps, schedule: Schedule): Promise<Planned> {
  const now = (deps.now ?? (() => new Date()))();
  const latest = await latestManifest(deps.store, schedule.name, { detail: false });
  let deadline: PlanOutcome | undefined;
  if (latest !== undefined && latest.closedAt === null) {
    const pastDeadline = latest.deadlineAt != null && now >= new Date(latest.deadlineAt);
    if (!roundComplete(latest) && !pastDeadline)
      return { outcome: await continueRound(deps, latest, now), manifest: latest };
    if (!roundComplete(latest)) deadline = await closeAtDeadline(deps, latest, now);
    else {
      // Every pair has its result but the probe that finished the round died before closing it.
      latest.closedAt = now.toISOString();
      await saveHead(deps.store, latest);
    }
  }
  // A round closed at its deadline is the news, unless a new round opens now.
  const unchanged = (outcome: PlanOutcome): Planned => ({ outcome: deadline ?? outcome, manifest: latest });
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
  const manifest = newRound(schedule, nodes, latest, tick, now, deps.roundDeadlineSeconds);
  await sendRound(deps, manifest);
  return {
    outcome: {
      schedule: schedule.name,
      action: 'opened',
      round: manifest.round,
      queued: manifest.pairs.length,
    },
    manifest,
  };
}

/** A round of the schedule's nodes: serial (stalest first, spread) or in disjoint slots with a solo check. */
function newRound(
  schedule: Schedule,
  nodes: string[],
  latest: RoundManifest | undefined,
  tick: Date,
  now: Date,
  deadlineSeconds: number | undefined,
): RoundManifest {
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
    deadlineAt: roundDeadline(
      schedule,
      slots.length + (concurrency.mode === 'disjoint' ? 1 : 0),
      now,
      deadlineSeconds,
    ),
    nodes,
    pairs: pairs.map((pair) =>
      concurrency.mode === 'disjoint'
        ? queuedPair({ ...pair, slot: slotOf.get(pairKey(pair)) as number }, now.toISOString())
        : queuedPair(pair, now.toISOString()),
    ),
    counts: countPairs([]),
    concurrency,
    ...(concurrency.mode === 'disjoint' ? soloCheckOf(slots, latest, now) : {}),
  };
  return manifest;
}

function roundDeadline(
  schedule: Schedule,
  messages: number,
  now: Date,
  deadlineSeconds: number | undefined,
): string {
  if (deadlineSeconds !== undefined) return new Date(now.getTime() + deadlineSeconds * 1000).toISOString();
  // Twice the healthy length: the queue is shared with other schedules' rounds.
  const healthy = healthyRoundSeconds(messages, schedule);
  return nextTick(schedule, new Date(now.getTime() + 2 * healthy * 1000)).toISOString();
}

/**
 * Past its deadline: every pair without a result (and the solo check) is
 * skipped as round-deadline and the round closes. A test running right now
 * still stores its result; its measurement then beats the skip.
 */
async function closeAtDeadline(deps: PlanDeps, manifest: RoundManifest, now: Date): Promise<PlanOutcome> {
  const at = now.toISOString();
  const reason = `round-deadline: open since ${manifest.openedAt}, deadline ${manifest.deadlineAt}`;
  const untested = manifest.pairs.filter((p) => !isFinished(p));
  for (const pair of untested) {
    Object.assign(pair, { state: 'skipped', reason, finishedAt: at, connectivity: null });
    await savePairEvent(deps.store, manifest, pair);
  }
  const { solo } = manifest;
  if (solo !== undefined && !isFinished(solo)) {
    Object.assign(solo, { state: 'skipped', reason, finishedAt: at });
    await saveSoloEvent(deps.store, manifest);
  }
  manifest.closedAt = at;
  await saveHead(deps.store, manifest);
  const outcome = {
    schedule: manifest.schedule,
    action: 'deadline',
    round: manifest.round,
    skipped: untested.length,
  } as const;
  // Logged here too: when the next round opens in the same run, the outcome says that.
  log.warn({ ...outcome, deadlineAt: manifest.deadlineAt }, 'round closed at its deadline');
  return outcome;
}

/** The round first (a probe that gets a message must find it), then its messages. */
async function sendRound(deps: PlanDeps, manifest: RoundManifest): Promise<void> {
  await saveNewRound(deps.store, manifest);
  try {
    await enqueue(deps, manifest, manifest.pairs);
  } catch (err) {
    // Nothing went out, so no probe touches this round: mark it unsent, and the next plan sends it.
    if (err instanceof SendError && err.sent === 0) await markUnsent(deps, manifest);
    throw err;
  }
  if (manifest.solo !== undefined) await enqueueSolo(deps, manifest, manifest.solo);
}

/** A disjoint round's solo check: the pair after the previous round's, queued behind the slots. */
function soloCheckOf(
  slots: readonly Pair[][],
  previous: RoundManifest | undefined,
  now: Date,
): { solo?: SoloCheck } {
  // A pair alone in its slot was measured alone already (2 or 3 nodes, maxParallel 1).
  const shared = slots.filter((slot) => slot.length > 1).flat();
  const pair = nextSoloPair(shared, previous?.solo);
  if (pair === undefined) return {};
  return {
    solo: {
      src: pair.src,
      dst: pair.dst,
      state: 'queued',
      queuedAt: now.toISOString(),
      startedAt: null,
      finishedAt: null,
      parallelRunId: null,
      soloRunId: null,
      reason: null,
      ratios: [],
    },
  };
}

/** Queued long ago as far as requeueing goes: the next plan sends these pairs at once. */
const NEVER_SENT = new Date(0).toISOString();

async function markUnsent(deps: PlanDeps, manifest: RoundManifest): Promise<void> {
  for (const pair of manifest.pairs) pair.queuedAt = NEVER_SENT;
  if (manifest.solo !== undefined) manifest.solo.queuedAt = NEVER_SENT;
  await saveHead(deps.store, manifest).catch((err) =>
    log.error(
      { err: errorLine(err), round: manifest.round },
      'round not marked unsent: requeued after the delay',
    ),
  );
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

async function continueRound(deps: PlanDeps, manifest: RoundManifest, now: Date): Promise<PlanOutcome> {
  const requeueAfterMs = (deps.requeueAfterSeconds ?? 3600) * 1000;
  const lost = manifest.pairs.filter(
    (p) => p.state === 'queued' && now.getTime() - new Date(p.queuedAt).getTime() > requeueAfterMs,
  );
  const { solo } = manifest;
  const soloLost =
    solo !== undefined &&
    solo.state === 'queued' &&
    now.getTime() - new Date(solo.queuedAt).getTime() > requeueAfterMs;
  const remaining =
    manifest.pairs.filter((p) => p.state === 'queued').length + (solo?.state === 'queued' ? 1 : 0);
  if (lost.length === 0 && !soloLost)
    return { schedule: manifest.schedule, action: 'waiting', round: manifest.round, remaining };
  for (const pair of lost) pair.queuedAt = now.toISOString();
  if (soloLost) solo.queuedAt = now.toISOString();
  await saveHead(deps.store, manifest);
  if (lost.length > 0) await enqueue(deps, manifest, lost);
  // After the slots requeued with it, so it still runs last.
  if (soloLost) await enqueueSolo(deps, manifest, solo);
  const queued = lost.length + (soloLost ? 1 : 0);
  return { schedule: manifest.schedule, action: 'requeued', round: manifest.round, queued };
}

/**
 * One message per pair (serial) or per slot (disjoint: the slot's pairs not
 * yet tested); what to run comes from the round's manifest, so a requeue
 * runs the same test.
 */
async function enqueue(deps: PlanDeps, manifest: RoundManifest, pairs: readonly RoundPair[]): Promise<void> {
  const common = messageCommon(manifest);
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

/** The solo check's message: the pair alone, after the round's slots (FIFO). */
async function enqueueSolo(deps: PlanDeps, manifest: RoundManifest, solo: SoloCheck): Promise<void> {
  await deps.queue.send([{ ...messageCommon(manifest), src: solo.src, dst: solo.dst, solo: true }]);
}

/** What every message of a round says: the test to run, from the manifest. */
function messageCommon(manifest: RoundManifest) {
  return {
    schedule: manifest.schedule,
    round: manifest.round,
    test: manifest.test,
    lengthSeconds: manifest.lengthSeconds,
    ...(manifest.delaySeconds === null ? {} : { delaySeconds: manifest.delaySeconds }),
    ...(manifest.hostNetwork === null ? {} : { hostNetwork: manifest.hostNetwork }),
    ...(manifest.timeoutSeconds === null ? {} : { timeoutSeconds: manifest.timeoutSeconds }),
  };
}

function isDisjoint(concurrency: Concurrency | undefined): boolean {
  return concurrency?.mode === 'disjoint';
}
