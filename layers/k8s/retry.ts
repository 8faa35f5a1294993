import { ApiException } from '@kubernetes/client-node';
import { type RetryOptions, withRetry } from '../core/retry.ts';

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

/** The budget is 30 s unless said. */
export type ApiRetryOptions = Partial<RetryOptions>;

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

/** Runs `call`, repeating it after a transient API failure until it succeeds, fails for good, or the budget is spent. */
export function withApiRetry<T>(
  what: string,
  call: () => Promise<T>,
  options: ApiRetryOptions = {},
): Promise<T> {
  return withRetry(what, call, isTransientApiError, {
    ...options,
    budgetMs: options.budgetMs ?? API_RETRY_BUDGET_MS,
  });
}
