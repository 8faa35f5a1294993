import type { PlanOutcome } from './plan.ts';
import type { RoundManifest } from './round.ts';

/**
 * Who wants to know how a schedule's rounds go: in a cluster, the
 * TestSchedule's status. plan reports its decision for each schedule, probe
 * each finished pair. An observer never makes a test fail: it reports its
 * own errors in the log.
 */
export interface RoundObserver {
  planned(outcome: PlanOutcome, manifest: RoundManifest | undefined): Promise<void>;
  progressed(manifest: RoundManifest): Promise<void>;
}
