import type { TestName } from './test-types.ts';

/**
 * How a round's tests share the cluster. serial (the default): one test at a
 * time in the whole cluster, nothing else on the wire. disjoint: the round's
 * ordered pairs in slots of node-disjoint pairs (layers/domain/pairs.ts:
 * disjointSlots), a slot's tests at once, at most maxParallel of them; no
 * node is ever in two tests at once, but tests share the fabric.
 */
export const CONCURRENCY_MODES = ['serial', 'disjoint'] as const;
export type ConcurrencyMode = (typeof CONCURRENCY_MODES)[number];
export interface Concurrency {
  mode: ConcurrencyMode;
  /** disjoint: at most this many tests at once (default: as many as a slot has). */
  maxParallel?: number | undefined;
}
export const SERIAL: Concurrency = Object.freeze({ mode: 'serial' });

/** A test schedule: which test, how long, when (cron). The TestSchedule resource in a cluster. */
export interface Schedule {
  name: string;
  cron: string;
  timeZone?: string;
  test: TestName;
  lengthSeconds: number;
  delaySeconds?: number;
  suspend?: boolean;
  /** Only Ready nodes with all these labels are tested. */
  nodeSelector?: Record<string, string>;
  /** Kubernetes runner: test the nodes' own network (default) or the pod network. */
  hostNetwork?: boolean;
  /** Kubernetes runner: hard limit for one pair's test, pods included. */
  timeoutSeconds?: number;
  /** Default serial. */
  concurrency?: Concurrency;
}

/** Where schedules come from: NETMON_SCHEDULES (local) or the TestSchedule resources of a namespace. */
export interface ScheduleSource {
  list(): Promise<Schedule[]>;
}
