/**
 * Mutual exclusion for tests. A lock file serves the local runner (all
 * probes on one host); the Kubernetes runner uses coordination.k8s.io Leases
 * behind the same interface.
 */

/**
 * A held lock: call it to release. Its signal aborts when the lock is lost
 * while held (not renewed in time, taken over by another holder): whoever
 * tests under it must stop, since another test may now run beside it.
 */
export interface HeldLock {
  (): Promise<void>;
  readonly signal: AbortSignal;
}

export interface TestLock {
  /** Resolves once held; rejects with LockError after `timeoutMs`. */
  acquire(timeoutMs: number, onWait?: () => Promise<void>): Promise<HeldLock>;
}

/**
 * The locks tests are run under: one for the cluster and one per node.
 * A serial test holds the cluster lock and its two nodes' locks (serial tests
 * never overlap); a disjoint slot holds the locks of its nodes (slots of
 * different schedules may run at once on disjoint nodes). So no node is
 * ever in two tests. layers/pipeline/test-locks.ts takes them in one order.
 */
export interface TestLocks {
  readonly cluster: TestLock;
  /** The same lock for the same name, a different one for every other name. */
  node(name: string): TestLock;
}

/** What a message's tests need to hold. */
export interface LockScope {
  cluster: boolean;
  nodes: readonly string[];
}
