import type { FlentSummary } from './figures.ts';

/**
 * Findings about the network: the peer did not answer (unreachable), not in
 * time (timeout), or nothing listened on it (server-missing). Only these may
 * set a pair's connectivity to 0.
 */
export const NETWORK_REASONS = ['unreachable', 'timeout', 'server-missing'] as const;
export type NetworkFailureReason = (typeof NETWORK_REASONS)[number];

/**
 * The test itself broke, so it measured nothing about the network:
 * tool-error (flent or the agent failed), oom-killed (the agent's container
 * ran out of memory), deadline-exceeded (Kubernetes stopped the test pod at
 * its activeDeadlineSeconds), store-unavailable (S3 refused or could not be
 * reached when the archive or the result was stored). The pair keeps its
 * last measured connectivity and shows as not measured.
 */
export const INFRA_REASONS = ['tool-error', 'oom-killed', 'deadline-exceeded', 'store-unavailable'] as const;
export type InfraFailureReason = (typeof INFRA_REASONS)[number];

/** Why a test gave no figures: a finding about the network, or a test that broke. */
export const FAILURE_REASONS = [...NETWORK_REASONS, ...INFRA_REASONS] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export function isFailureReason(value: unknown): value is FailureReason {
  return typeof value === 'string' && (FAILURE_REASONS as readonly string[]).includes(value);
}

/**
 * Whether a failure with this reason is a measurement of the network (the
 * one place that decides it). Anything else, an unknown reason included, is
 * not: a pair is painted as failing only on a finding.
 */
export function isNetworkFailure(reason: string | null | undefined): reason is NetworkFailureReason {
  return typeof reason === 'string' && (NETWORK_REASONS as readonly string[]).includes(reason);
}

/** The connectivity a failed test records: 0 for a finding about the network, null (not measured) when the test broke. */
export function failureConnectivity(reason: FailureReason): 0 | null {
  return isNetworkFailure(reason) ? 0 : null;
}

/**
 * A test that gave no figures, as the runner saw it. Its `connectivity` is
 * the runner's 0; the record of the test (TestRecord) keeps 0 only for a
 * network reason and null otherwise (failureConnectivity).
 */
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
