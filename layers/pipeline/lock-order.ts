import { errorLine, LockError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { HeldLock, LockScope, TestLock, TestLocks } from '../domain/lock.ts';

/**
 * The locks of a scope in the one order every probe takes them: the cluster
 * lock first (when wanted), then the node locks sorted by name (code units,
 * the same order on every host), each name once.
 */
export function lockOrder(locks: TestLocks, scope: LockScope): Array<{ name: string; lock: TestLock }> {
  const nodes = [...new Set(scope.nodes)].sort();
  return [
    ...(scope.cluster ? [{ name: 'cluster', lock: locks.cluster }] : []),
    ...nodes.map((node) => ({ name: `node ${node}`, lock: locks.node(node) })),
  ];
}

/**
 * Takes every lock of `scope`, in lockOrder, within `timeoutMs` in all; a
 * lock not had in time releases those already held, newest first, and
 * rejects with LockError. The held set is released newest first too, and
 * its signal aborts when any one of its locks is lost.
 *
 * No deadlock: every holder takes its locks in the same total order, so a
 * holder waits only for a lock later in that order than all it holds. A
 * cycle of holders each waiting for the next would need one of them to wait
 * for a lock earlier than one it holds, which never happens. (And a wait is
 * bounded anyway: the timeout gives everything back.)
 */
export async function acquireInOrder(
  locks: TestLocks,
  scope: LockScope,
  timeoutMs: number,
  onWait?: () => Promise<void>,
): Promise<HeldLock> {
  const deadline = Date.now() + timeoutMs;
  const held: HeldLock[] = [];
  const releaseAll = async (): Promise<void> => {
    for (const release of [...held].reverse()) {
      // One lock that cannot be given back (it expires on its own) must not keep the others.
      await release().catch((err: unknown) => log.warn({ err: errorLine(err) }, 'test lock not released'));
    }
  };
  try {
    for (const { lock } of lockOrder(locks, scope)) {
      held.push(await lock.acquire(Math.max(1, deadline - Date.now()), onWait));
    }
  } catch (err) {
    await releaseAll();
    throw err instanceof LockError
      ? err
      : new LockError(`cannot take the test locks: ${errorLine(err)}`, { cause: err });
  }
  const signal = AbortSignal.any(held.map((h) => h.signal));
  return Object.assign(releaseAll, { signal });
}

/**
 * What a message's tests hold: a disjoint slot the locks of its pairs'
 * nodes; anything else (a serial pair, a solo check) the cluster lock too, so
 * that such tests never overlap one another.
 */
export function lockScopeOf(message: {
  src: string;
  dst: string;
  slot?: { pairs: ReadonlyArray<{ src: string; dst: string }> } | undefined;
}): LockScope {
  if (message.slot === undefined) return { cluster: true, nodes: [message.src, message.dst] };
  return { cluster: false, nodes: message.slot.pairs.flatMap((pair) => [pair.src, pair.dst]) };
}
