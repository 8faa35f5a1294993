import lockfile from 'proper-lockfile';
import { LockError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { TestLock } from '../domain/lock.ts';

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

  async acquire(timeoutMs: number, onWait?: () => Promise<void>): Promise<() => Promise<void>> {
    const deadline = Date.now() + timeoutMs;
    let lastWaitHook = Date.now();
    for (;;) {
      try {
        const release = await lockfile.lock(this.path, {
          realpath: false,
          stale: this.staleMs,
          update: Math.max(1000, Math.floor(this.staleMs / 4)),
          retries: 0,
          // The default throws from a timer and kills the process; a lost lock is worth a loud log instead.
          onCompromised: (err) => log.error({ err: err.message, lock: this.path }, 'test lock compromised'),
        });
        return release;
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
