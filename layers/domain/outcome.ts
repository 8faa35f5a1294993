import type { FlentSummary } from './figures.ts';

/**
 * Why a test measured nothing. Only the first three are findings about the
 * network; the others mean the test itself broke: tool-error (flent or the
 * agent failed), oom-killed (the agent's container ran out of memory),
 * deadline-exceeded (Kubernetes stopped the test pod at its
 * activeDeadlineSeconds).
 */
export const FAILURE_REASONS = [
  'unreachable',
  'timeout',
  'server-missing',
  'tool-error',
  'oom-killed',
  'deadline-exceeded',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export function isFailureReason(value: unknown): value is FailureReason {
  return typeof value === 'string' && (FAILURE_REASONS as readonly string[]).includes(value);
}

/** A test that measured nothing. This is a result, the record of the failure. */
export interface TestFailure {
  connectivity: 0;
  reason: FailureReason;
  message: string;
  test: string;
  host: string;
  exitCode: number | null;
  signal: string | null;
  stderrTail: string;
  startTime: string;
  durationSeconds: number;
  /** The archive, when flent wrote one that lacks the test's essential series (kept: it is the raw record). */
  archivePath?: string;
}

/** A flent run on this host: the archive stays here (archivePath) until someone uploads it. */
export type FlentOutcome =
  | { ok: true; summary: FlentSummary; archivePath: string; durationSeconds: number }
  | { ok: false; failure: TestFailure };

/** What the agent measured in its pod; its archive is already in S3, not on this host. */
export type ReportedOutcome =
  | { ok: true; summary: FlentSummary; durationSeconds: number }
  | { ok: false; failure: TestFailure };
