import type { TestClocks } from './one-way.ts';
import type { FlentOutcome, ReportedOutcome } from './outcome.ts';
import type { PhaseHook } from './phases.ts';
import type { TestName } from './test-types.ts';

/** A node as a runner sees it: where to reach it and, locally, which namespace it lives in. */
export interface RunnerNode {
  name: string;
  address: string;
  /** Network namespace of the node on this host; absent means the host's own namespace. */
  netns?: string;
}

export interface TestRequest {
  src: RunnerNode;
  dst: RunnerNode;
  test: TestName;
  lengthSeconds: number;
  delaySeconds?: number;
  title?: string;
  /** Labels for what the test belongs to (Kubernetes runner). */
  schedule?: string;
  round?: string;
  /** Kubernetes runner: per-schedule overrides of its defaults. */
  hostNetwork?: boolean;
  timeoutSeconds?: number;
}

/**
 * A runner's result. The local runner leaves the archive on this host
 * (archivePath, the probe uploads it); the Kubernetes runner's agent has
 * already stored it (storedArchiveKey).
 */
export type TestOutcome = (FlentOutcome | ReportedOutcome) & {
  src: string;
  dst: string;
  storedArchiveKey?: string;
  /** Each end's clock, read around the test: what one-way delays are judged by. */
  clocks?: TestClocks;
};

/** Where a finished test's archive is: a local file to upload, an S3 key already written, or none. */
export function archiveOf(outcome: TestOutcome): { path: string } | { key: string } | undefined {
  if (outcome.storedArchiveKey !== undefined) return { key: outcome.storedArchiveKey };
  const path = outcome.ok
    ? 'archivePath' in outcome
      ? outcome.archivePath
      : undefined
    : outcome.failure.archivePath;
  return path === undefined ? undefined : { path };
}

/** What a caller may do between the phases of a test. */
export interface RunHooks {
  /**
   * Called once dst's servers listen, before the client starts; the client
   * waits for it (a slot's tests start together: layers/pipeline/probe.ts).
   */
  serversReady?: () => Promise<void>;
  /**
   * Aborts when the test's lock is lost (another test may now run beside it):
   * the runner stops the test, cleans up and rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /** Told of each phase of the run as it ends (the round bench: where the time around flent goes). */
  onPhase?: PhaseHook;
}

/** Runs one test for an ordered pair. The local runner and the Kubernetes runner both implement it. */
export interface Runner {
  run(request: TestRequest, hooks?: RunHooks): Promise<TestOutcome>;
  /**
   * Removes what crashed earlier tests left (the Kubernetes runner's pods)
   * on `nodes` only: the probe calls it holding those nodes' test locks, so no
   * live test has anything there (tests on other nodes may be running).
   */
  cleanupStale?(olderThanSeconds: number, nodes: readonly string[]): Promise<number>;
}
