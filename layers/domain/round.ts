import type { Concurrency } from './schedule.ts';
import type { TestName } from './test-types.ts';

/**
 * A round: one pass over every ordered pair of a schedule. Its manifest
 * (rounds/<schedule>/<round>.json, read and written by layers/pipeline/round.ts)
 * is the round's own record of what was queued and what was tested.
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
  version: 1;
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
  nodes: string[];
  pairs: RoundPair[];
  counts: RoundCounts;
  /** Absent in rounds opened before concurrency modes: serial. */
  concurrency?: Concurrency | undefined;
}

export function countPairs(pairs: readonly RoundPair[]): RoundCounts {
  const count = (state: PairState): number => pairs.filter((p) => p.state === state).length;
  return { total: pairs.length, done: count('done'), failed: count('failed'), skipped: count('skipped') };
}

export function isFinished(pair: RoundPair): boolean {
  return pair.state !== 'queued';
}

/** What plan decided for one schedule. */
export type PlanOutcome =
  | { schedule: string; action: 'opened'; round: string; queued: number }
  | { schedule: string; action: 'requeued'; round: string; queued: number }
  | { schedule: string; action: 'waiting'; round: string; remaining: number }
  | { schedule: string; action: 'not-due' | 'suspended'; round: string | null }
  | { schedule: string; action: 'too-few-nodes'; round: string | null; message: string };

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
