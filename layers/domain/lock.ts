/**
 * Mutual exclusion for tests: whoever holds it runs the only test in the
 * cluster. The file lock serves the local runner (all probes on one host);
 * the Kubernetes runner uses a coordination.k8s.io Lease behind the same
 * interface.
 */
export interface TestLock {
  /** Resolves with a release function once held; rejects with LockError after `timeoutMs`. */
  acquire(timeoutMs: number, onWait?: () => Promise<void>): Promise<() => Promise<void>>;
}
