import { errorLine } from './errors.ts';
import { log } from './log.ts';

/**
 * Repeating a call that failed for a passing reason (a peer restarting,
 * overloaded or away for a moment) with exponential backoff and jitter, so
 * that callers that lost the same peer do not come back in step. Each peer's
 * layer says what is passing (layers/k8s/retry.ts, layers/store/s3-store.ts).
 */

export interface RetryOptions {
  /** Retries stop once this much time has passed since the first try. */
  budgetMs: number;
  /** First wait; each next one doubles, up to maxDelayMs (defaults 250 ms and 5 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Stops retrying (the last error is thrown) once aborted. */
  signal?: AbortSignal;
}

/** Runs `call` until it succeeds, fails for good (`isTransient` false), or the budget is spent. */
export async function withRetry<T>(
  what: string,
  call: () => Promise<T>,
  isTransient: (err: unknown) => boolean,
  options: RetryOptions,
): Promise<T> {
  const maxDelayMs = options.maxDelayMs ?? 5000;
  const started = Date.now();
  let delayMs = options.initialDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await call();
      if (attempt > 1) log.info({ call: what, attempt }, 'succeeded after retries');
      return result;
    } catch (err) {
      const waited = Date.now() - started;
      const wait = Math.min(delayMs * (0.5 + Math.random() / 2), maxDelayMs);
      if (!isTransient(err) || options.signal?.aborted || waited + wait > options.budgetMs) throw err;
      log.warn({ call: what, attempt, err: errorLine(err), retryInMs: Math.round(wait) }, 'failed; retrying');
      await sleep(wait, options.signal);
      delayMs = Math.min(delayMs * 2, maxDelayMs);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
