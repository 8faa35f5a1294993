import type { TestName } from './test-types.ts';

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
}

/** Where schedules come from: NETMON_SCHEDULES (local) or the TestSchedule resources of a namespace. */
export interface ScheduleSource {
  list(): Promise<Schedule[]>;
}
