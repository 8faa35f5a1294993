import { createHash } from 'node:crypto';
import lockfile from 'proper-lockfile';
import { LockError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { HeldLock, TestLock, TestLocks } from '../domain/lock.ts';
import { encodeSegment } from '../store/keys.ts';

export interface FileTestLockOptions {
  /** A holder that stops refreshing the lock for this long (a killed probe) loses it. */
  staleMs?: number;
  pollMs?: number;
}

export class FileTestLock implements TestLock {
  private readonly path: string;
  private readonly staleMs: number;
  private readonly pollMs: number;

  constructor(path: string, options: FileTestLockOptions = {}) {
    this.path = path;
    this.staleMs = options.staleMs ?? 10_000;
    this.pollMs = options.pollMs ?? 250;
  }

  async acquire(timeoutMs: number, onWait?: () => Promise<void>): Promise<HeldLock> {
    const deadline = Date.now() + timeoutMs;
    let lastWaitHook = Date.now();
    for (;;) {
      const lost = new AbortController();
      try {
        const release = await lockfile.lock(this.path, {
          realpath: false,
          stale: this.staleMs,
          update: Math.max(1000, Math.floor(this.staleMs / 4)),
          retries: 0,
          // The default throws from a timer and kills the process. Compromised means another
          // probe took the lock as stale: whoever tests under it stops (its signal).
          onCompromised: (err) => {
            log.error({ err: err.message, lock: this.path }, 'test lock lost');
            lost.abort(new LockError(`lost the test lock ${this.path}: ${err.message}`, { cause: err }));
          },
        });
        return Object.assign(
          async () => {
            // A lost lock is no longer ours to remove (proper-lockfile: ERELEASED).
            if (!lost.signal.aborted) await release();
          },
          { signal: lost.signal },
        );
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
          throw new LockError(`cannot take the test lock ${this.path}: ${(err as Error).message}`, {
            cause: err,
          });
        }
      }
      if (Date.now() > deadline) {
        throw new LockError(
          `the test lock ${this.path} stayed held for ${timeoutMs} ms (another test is running)`,
        );
      }
      if (onWait && Date.now() - lastWaitHook > 5000) {
        lastWaitHook = Date.now();
        await onWait();
      }
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
  }
}

/**
 * The local test locks: the cluster's is NETMON_LOCK_FILE itself, a node's
 * a file beside it named from the node (`<lock file>.node-<encoded name>`).
 */
export class FileTestLocks implements TestLocks {
  readonly cluster: TestLock;
  private readonly path: string;
  private readonly options: FileTestLockOptions;
  private readonly nodes = new Map<string, TestLock>();

  constructor(path: string, options: FileTestLockOptions = {}) {
    this.path = path;
    this.options = options;
    this.cluster = new FileTestLock(path, options);
  }

  node(name: string): TestLock {
    let lock = this.nodes.get(name);
    if (lock === undefined) {
      lock = new FileTestLock(nodeLockPath(this.path, name), this.options);
      this.nodes.set(name, lock);
    }
    return lock;
  }
}

/**
 * A node's lock file: the name encoded as storage keys encode it (reversible,
 * so two nodes never share a file, and "../x" stays in the folder). A name too
 * long for a file name (node names reach 253 characters, encoded three times
 * that) keeps its start and a hash of the whole, after a "~" that no encoded
 * name contains.
 */
export function nodeLockPath(lockFile: string, node: string): string {
  const encoded = encodeSegment(node);
  const short =
    encoded.length <= 120
      ? encoded
      : `${encoded.slice(0, 100)}~${createHash('sha256').update(node).digest('hex').slice(0, 16)}`;
  return `${lockFile}.node-${short}`;
}
