import type { FlentSummary } from './figures.ts';
import type { PublishedOneWay, TestClocks } from './one-way.ts';
import type { FailureReason } from './outcome.ts';
import type { ConcurrencyMode } from './schedule.ts';
import type { TestName } from './test-types.ts';

/**
 * The record of one test of one ordered pair in one round, success or
 * failure: stored as results/<schedule>/<round>/<src>/<dst>.json, pushed as
 * metrics, drawn as an edge. Figures are in base units (s, bit/s, ratio).
 *
 * Direction: the test runs its client on `src` and its server on `dst`.
 * tcp_upload data flows src -> dst; tcp_download data flows dst -> src;
 * rrul both. Latency probes go src -> dst and back.
 */
export interface TestRecord {
  version: 1;
  schedule: string;
  round: string;
  src: string;
  dst: string;
  test: TestName;
  /** Unique per attempt: a redelivered message gets a new runId, the record keeps the last. */
  runId: string;
  startTime: string;
  endTime: string;
  durationSeconds: number;
  /**
   * 1: the test reached the peer; 0: it found the network failing (a network
   * reason: unreachable, timeout, server-missing); null: not measured, the
   * test itself broke (an infrastructure reason, layers/domain/outcome.ts),
   * so the pair keeps its last measured connectivity.
   */
  connectivity: 0 | 1 | null;
  /** Why the test gave no figures (connectivity 0 or null); null on success. */
  reason: FailureReason | null;
  message: string | null;
  exitCode: number | null;
  stderrTail: string | null;
  /** S3 key of the .flent.gz archive, when flent wrote one. */
  archiveKey: string | null;
  summary: FlentSummary | null;
  /** Each end's clock during the test (records before one-way delays lack it). */
  clocks?: TestClocks | null;
  /** The published one-way figures (udp_latency), with the clocks' bound; null for other tests. */
  oneWay?: PublishedOneWay | null;
  /** How the round ran its tests: serial (alone in the cluster) or disjoint (beside its slot's other pairs). */
  concurrency?: ConcurrencyMode;
  /**
   * When the pair last reached its peer: this test's end on success, the
   * previous success carried forward on failure (null: never). Absent when
   * unknown (records before it, or no earlier state): the pusher then asks
   * the gateway.
   */
  lastSuccessTime?: string | null;
}
