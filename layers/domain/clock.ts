/**
 * One-way delays need two clocks that agree. A clock's state is read at
 * each end of a test (layers/core/clock.ts: the kernel's adjtimex figures,
 * or chrony's tracking when its socket answers); this decides whether the
 * pair's one-way delays can be trusted, and what is never published.
 */

export interface ClockState {
  /** The kernel's boot id: two ends with one id read one clock (network namespaces of one host). */
  clockId: string | null;
  /** false when the kernel says STA_UNSYNC / TIME_ERROR or chrony is not synchronised. */
  synchronised: boolean;
  /** Bound on |this clock - true time| in seconds; null when unknown. */
  errorBoundSeconds: number | null;
  source: 'kernel' | 'chrony';
}

/** The two clocks' bounds together may use at most this share of the smallest one-way delay (min RTT / 2). */
export const ONE_WAY_TRUST_SHARE = 0.1;

export interface OneWayTrust {
  trusted: boolean;
  /** Bound on the error of a one-way delay (both clocks' bounds added); 0 for one clock; null when unknown. */
  errorBoundSeconds: number | null;
  /** Why, in words, for records and logs. */
  reason: string;
}

/**
 * Whether the one-way delays of a pair are trustworthy: one clock at both
 * ends (bound 0), or two synchronised clocks whose bounds add up to at most
 * ONE_WAY_TRUST_SHARE of min RTT / 2.
 */
export function oneWayTrust(
  src: ClockState | undefined,
  dst: ClockState | undefined,
  minRttSeconds: number | null,
): OneWayTrust {
  if (src === undefined || dst === undefined)
    return {
      trusted: false,
      errorBoundSeconds: null,
      reason: `the clock of ${src === undefined ? 'src' : 'dst'} is unknown`,
    };
  if (src.clockId !== null && src.clockId === dst.clockId)
    return { trusted: true, errorBoundSeconds: 0, reason: 'both ends read one clock' };
  const bound =
    src.errorBoundSeconds === null || dst.errorBoundSeconds === null
      ? null
      : src.errorBoundSeconds + dst.errorBoundSeconds;
  const unsynchronised = [src.synchronised ? [] : ['src'], dst.synchronised ? [] : ['dst']].flat();
  if (unsynchronised.length > 0)
    return {
      trusted: false,
      errorBoundSeconds: bound,
      reason: `the clock of ${unsynchronised.join(' and ')} is not synchronised`,
    };
  if (bound === null)
    return { trusted: false, errorBoundSeconds: null, reason: 'a clock gives no error bound' };
  if (minRttSeconds === null || minRttSeconds <= 0)
    return { trusted: false, errorBoundSeconds: bound, reason: 'no round trip to compare the bound with' };
  const limit = (ONE_WAY_TRUST_SHARE * minRttSeconds) / 2;
  return bound <= limit
    ? {
        trusted: true,
        errorBoundSeconds: bound,
        reason: `bound within ${ONE_WAY_TRUST_SHARE * 100} % of min RTT / 2`,
      }
    : {
        trusted: false,
        errorBoundSeconds: bound,
        reason: `bound ${bound} s exceeds ${ONE_WAY_TRUST_SHARE * 100} % of min RTT / 2 (${limit} s)`,
      };
}

/** A one-way delay as published: never negative (a clock offset, not a delay). */
export function publishedOneWayDelay(seconds: number | null): number | null {
  return seconds === null || seconds < 0 ? null : seconds;
}
