import { ApiException } from '@kubernetes/client-node';
import { errorLine } from '../core/errors.ts';
import { log } from '../core/log.ts';

/**
 * Retries of Kubernetes API calls that failed for a passing reason: the API
 * server restarting (connection refused or reset), overloaded (429) or
 * unwell (5xx), a timed-out request. The probe's every call (its Leases, its
 * test pods, the nodes) goes through `withApiRetry`, so a 10 s restart of the
 * API server costs a few seconds, not the round's test and its pods left behind.
 *
 * Never retried: any other 4xx. A 404 or 403 says something true about the
 * cluster, and a 409 (a write that lost a race, or a create that already
 * happened) needs the caller to read again and decide, which a blind repeat
 * of the same request cannot do.
 */

export interface ApiRetryOptions {
  /** Retries stop once this much time has passed since the first try (default 30 s). */
  budgetMs?: number;
  /** First wait; each next one doubles, up to maxDelayMs (defaults 250 ms and 5 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Stops retrying (the last error is thrown) once aborted. */
  signal?: AbortSignal;
}

export const API_RETRY_BUDGET_MS = 30_000;

/** Network errors (Node's and undici's codes) that a server coming back would not give again. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Whether a failed API call is worth repeating as it is. */
export function isTransientApiError(err: unknown): boolean {
  if (err instanceof ApiException) return err.code === 429 || (err.code >= 500 && err.code <= 599);
  // undici wraps the socket's error: "fetch failed" whose cause (or an AggregateError's errors) has the code.
  const seen = new Set<unknown>();
  const pending: unknown[] = [err];
  while (pending.length > 0) {
    const current = pending.pop();
    if (current === null || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    const { code, cause, errors } = current as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    pending.push(cause);
    if (Array.isArray(errors)) pending.push(...errors);
  }
  return false;
}

/**
 * Runs `call`, repeating it after a transient failure with exponential
 * backoff (with jitter, so that probes that lost the same API server do not
 * come back in step) until it succeeds, fails for good, or the budget is spent.
 */
export async function withApiRetry<T>(
  what: string,
  call: () => Promise<T>,
  options: ApiRetryOptions = {},
): Promise<T> {
  const budgetMs = options.budgetMs ?? API_RETRY_BUDGET_MS;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  const started = Date.now();
  let delayMs = options.initialDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await call();
      if (attempt > 1) log.info({ call: what, attempt }, 'API call succeeded after retries');
      return result;
    } catch (err) {
      const waited = Date.now() - started;
      const wait = Math.min(delayMs * (0.5 + Math.random() / 2), maxDelayMs);
      if (!isTransientApiError(err) || options.signal?.aborted || waited + wait > budgetMs) throw err;
      log.warn(
        { call: what, attempt, err: errorLine(err), retryInMs: Math.round(wait) },
        'API call failed; retrying',
      );
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
