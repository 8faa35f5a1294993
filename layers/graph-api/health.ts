import { errorLine } from '../core/errors.ts';

/**
 * What /healthz knows about the graph source: its last answer (ok or
 * failed, when, how long it took) and the reads still waiting. A source that
 * accepts and never answers leaves a read waiting: once that read is older
 * than the source's timeout the source counts as failing, long before the
 * SDK's own timeouts and retries give up on it.
 */

export interface SourceAnswer {
  ok: boolean;
  /** When the answer came (ISO time). */
  at: string;
  ms: number;
  /** Why it failed (no credentials: error lines never hold them). */
  error?: string;
}

export interface SourceState {
  state: 'ok' | 'failing' | 'unknown';
  lastAnswer: SourceAnswer | null;
  /** The oldest read still waiting for an answer (ISO time), or null. */
  waitingSince: string | null;
  /** Why the state is failing, in words. */
  reason?: string;
}

/** Counts the reads of one source. `isFailure`: which errors mean the source did not answer properly. */
export class SourceWatch {
  private last: SourceAnswer | null = null;
  private readonly waiting = new Map<symbol, number>();
  private readonly isFailure: (err: unknown) => boolean;

  constructor(isFailure: (err: unknown) => boolean) {
    this.isFailure = isFailure;
  }

  get busy(): boolean {
    return this.waiting.size > 0;
  }

  /** Records when `read` settles; returns it unchanged. */
  track<T>(read: Promise<T>): Promise<T> {
    const id = Symbol('read');
    const started = Date.now();
    this.waiting.set(id, started);
    const settle = (error: unknown | undefined): void => {
      this.waiting.delete(id);
      const at = Date.now();
      const failed = error !== undefined && this.isFailure(error);
      this.last = {
        ok: !failed,
        at: new Date(at).toISOString(),
        ms: at - started,
        ...(failed ? { error: errorLine(error) } : {}),
      };
    };
    read.then(
      () => settle(undefined),
      (err: unknown) => settle(err ?? new Error('rejected without a reason')),
    );
    return read;
  }

  /** The source's state at `nowMs`: failing after a failed answer, or while a read waits longer than `timeoutMs`. */
  state(nowMs: number, timeoutMs: number): SourceState {
    const oldest = Math.min(...this.waiting.values());
    const waitingSince = Number.isFinite(oldest) ? new Date(oldest).toISOString() : null;
    if (Number.isFinite(oldest) && nowMs - oldest > timeoutMs) {
      return {
        state: 'failing',
        lastAnswer: this.last,
        waitingSince,
        reason: `no answer for ${((nowMs - oldest) / 1000).toFixed(1)} s (timeout ${timeoutMs / 1000} s)`,
      };
    }
    if (this.last === null) return { state: 'unknown', lastAnswer: null, waitingSince };
    return this.last.ok
      ? { state: 'ok', lastAnswer: this.last, waitingSince }
      : { state: 'failing', lastAnswer: this.last, waitingSince, reason: this.last.error ?? 'failed' };
  }

  /** When the last answer came (ms since the epoch), or 0 before any. */
  lastAnswerMs(): number {
    return this.last === null ? 0 : Date.parse(this.last.at);
  }
}

/** Did `err`, or an error it wraps, come from a timeout (the SDK's, fetch's AbortSignal.timeout, a socket's)? */
export function isTimeout(err: unknown): boolean {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 8; e = e.cause) chain.push(e);
  const codeOf = (e: Error): unknown => (e as { code?: unknown }).code;
  // The AWS SDK names a reset connection TimeoutError too (to retry it): a reset is an answer, not silence.
  if (chain.some((e) => codeOf(e) === 'ECONNRESET' || codeOf(e) === 'EPIPE')) return false;
  return chain.some(
    (e) => e.name === 'TimeoutError' || codeOf(e) === 'ETIMEDOUT' || codeOf(e) === 'UND_ERR_CONNECT_TIMEOUT',
  );
}

/** `work`, or `onTimeout()`'s error after `ms`; the work itself goes on (a read shared by other requests). */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
