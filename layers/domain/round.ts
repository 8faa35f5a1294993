import type { Concurrency } from './schedule.ts';
import { expectedRunSeconds, TEST_OVERHEAD_SECONDS, type TestName } from './test-types.ts';

/**
 * A round: one pass over every ordered pair of a schedule. Its manifest is
 * the round's own record of what was queued and what was tested; in S3 it
 * is a small head, the pair list, and one small object per pair event
 * (layers/pipeline/round.ts), read back as this one view.
 */
export const PAIR_STATES = ['queued', 'done', 'failed', 'skipped'] as const;
export type PairState = (typeof PAIR_STATES)[number];

export interface RoundPair {
  src: string;
  dst: string;
  state: PairState;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  attempts: number;
  runId: string | null;
  connectivity: 0 | 1 | null;
  reason: string | null;
  /** disjoint rounds: the slot the pair is tested in (its node-disjoint pairs are tested at once). */
  slot?: number | undefined;
}

export interface RoundCounts {
  total: number;
  done: number;
  failed: number;
  skipped: number;
}

export interface RoundManifest {
  /** How the round is stored: 1 = one manifest rewritten per pair (before per-pair state), 2 = head + pair events. */
  version: 1 | 2;
  schedule: string;
  round: string;
  test: TestName;
  lengthSeconds: number;
  delaySeconds: number | null;
  /** Kubernetes runner settings of the schedule when the round opened (null: the runner's default). */
  hostNetwork: boolean | null;
  timeoutSeconds: number | null;
  nodeSelector: Record<string, string>;
  cron: string;
  /** The cron tick this round belongs to. */
  scheduledAt: string;
  openedAt: string;
  closedAt: string | null;
  /** When plan closes the round with its untested pairs skipped (`round-deadline`); null: never (older rounds). */
  deadlineAt?: string | null | undefined;
  nodes: string[];
  pairs: RoundPair[];
  counts: RoundCounts;
  /** Absent in rounds opened before concurrency modes: serial. */
  concurrency?: Concurrency | undefined;
  /** Disjoint rounds: the pair measured again alone after the slots (layers/domain/solo.ts). */
  solo?: SoloCheck | undefined;
}

/**
 * How long a round may take while nothing is wrong: each of its messages
 * (pairs, or slots, and the solo check) one after another at its longest
 * (the test's hard limit, or its run plus overhead). The default deadline is
 * the first cron tick after twice that, so a healthy round longer than its
 * cron period is never cut, and a stuck one ends at a tick.
 */
export function healthyRoundSeconds(
  messages: number,
  test: { lengthSeconds: number; delaySeconds?: number | undefined; timeoutSeconds?: number | undefined },
): number {
  const run = expectedRunSeconds(test.lengthSeconds, test.delaySeconds) + TEST_OVERHEAD_SECONDS;
  return messages * Math.max(run, test.timeoutSeconds ?? 0);
}

/** A pair of a round not yet tested, queued at `queuedAt` (a disjoint round's pairs have their slot). */
export function queuedPair(
  pair: { src: string; dst: string; slot?: number | undefined },
  queuedAt: string,
): RoundPair {
  return {
    src: pair.src,
    dst: pair.dst,
    state: 'queued',
    queuedAt,
    startedAt: null,
    finishedAt: null,
    attempts: 0,
    runId: null,
    connectivity: null,
    reason: null,
    ...(pair.slot === undefined ? {} : { slot: pair.slot }),
  };
}

export function countPairs(pairs: readonly RoundPair[]): RoundCounts {
  const count = (state: PairState): number => pairs.filter((p) => p.state === state).length;
  return { total: pairs.length, done: count('done'), failed: count('failed'), skipped: count('skipped') };
}

export function isFinished(pair: Pick<RoundPair, 'state'>): boolean {
  return pair.state !== 'queued';
}

/** Every pair has its result, and the solo check (if the round has one) too: the round can close. */
export function roundComplete(manifest: Pick<RoundManifest, 'pairs' | 'solo'>): boolean {
  return manifest.pairs.every(isFinished) && (manifest.solo === undefined || isFinished(manifest.solo));
}

/** What plan decided for one schedule. */
export type PlanOutcome =
  | { schedule: string; action: 'opened'; round: string; queued: number }
  | { schedule: string; action: 'requeued'; round: string; queued: number }
  | { schedule: string; action: 'waiting'; round: string; remaining: number }
  | { schedule: string; action: 'not-due' | 'suspended'; round: string | null }
  | { schedule: string; action: 'too-few-nodes'; round: string | null; message: string }
  /** The round's deadline passed: its untested pairs are skipped (round-deadline) and it is closed. */
  | { schedule: string; action: 'deadline'; round: string; skipped: number }
  /** Planning this schedule failed (e.g. its newest manifest is unreadable); the others were planned. */
  | { schedule: string; action: 'failed'; round: null; message: string };

/**
 * Who wants to know how a schedule's rounds go: in a cluster, the
 * TestSchedule's status; with a Pushgateway, round progress metrics. plan
 * reports its decision for each schedule, probe each finished pair. An
 * observer never makes a test fail: it reports its own errors in the log.
 */
export interface RoundObserver {
  planned(outcome: PlanOutcome, manifest: RoundManifest | undefined): Promise<void>;
  progressed(manifest: RoundManifest): Promise<void>;
}

/**
 * The non-interference check of a disjoint round: one pair per round,
 * rotating through all of them, is measured again alone once every slot is
 * done (the last message of the round). Its figures beside its figures from
 * the slot say whether the slot's other tests took from it: the fabric the
 * tests shared.
 */
export interface SoloCheck {
  src: string;
  dst: string;
  state: PairState;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The pair's test in its slot, and the test alone (null until run). */
  parallelRunId: string | null;
  soloRunId: string | null;
  reason: string | null;
  ratios: SoloRatio[];
}

/** The headline figures a parallel/solo ratio is given for. */
export const SOLO_FIGURES = ['throughput_src_to_dst', 'throughput_dst_to_src', 'latency'] as const;
export type SoloFigure = (typeof SOLO_FIGURES)[number];

export interface SoloRatio {
  figure: SoloFigure;
  parallel: number;
  solo: number;
  /** parallel / solo: throughput below 1 and latency above 1 mean the parallel tests interfered. */
  ratio: number;
}
