import type { Pair } from './pairs.ts';
import type { RoundManifest } from './round.ts';
import type { RunnerNode } from './runner.ts';
import { expectedRunSeconds, TEST_TYPES } from './test-types.ts';

/**
 * The sweep: every Ready node probes every other node at once with ICMP
 * echo, beside the one-at-a-time tests and never under their lock, so that
 * connectivity, latency and loss of all pairs are at most a minute old.
 */

/** Echo requests per peer, one every SWEEP_PERIOD_MS: 10 at 10/s, about a second per sweep. */
export const SWEEP_PROBES = 10;
export const SWEEP_PERIOD_MS = 100;
/**
 * How long a reply may take. Longer than the period: fping matches replies
 * by sequence number, and a path slower than 100 ms (another region) must
 * not read as loss.
 */
export const SWEEP_REPLY_TIMEOUT_MS = 1000;
/** fping's default payload: 56 bytes, 64 of ICMP, 84 of IPv4, 98 in an Ethernet frame (without FCS). */
export const SWEEP_FRAME_BYTES = 98;

/** What one source saw of one peer: RTTs in seconds (null without a reply). */
export interface PeerProbes {
  dst: string;
  sent: number;
  received: number;
  rttMinSeconds: number | null;
  rttMedianSeconds: number | null;
  rttP99Seconds: number | null;
}

/** One source node's sweep: its peers' probes, or why it could not probe at all. */
export type SweepSource =
  | { src: string; ok: true; peers: PeerProbes[] }
  | { src: string; ok: false; message: string };

export interface SweepPair extends Omit<PeerProbes, 'dst'>, Pair {
  /** 1 when any probe got an answer. */
  connectivity: 0 | 1;
  lossRatio: number | null;
  /** Either end was in a bandwidth test during the sweep: its RTTs include the test's queues. */
  underLoad: boolean;
}

/** Runs one sweep over the given nodes: one prober per node, all at once (local processes or pods). */
export interface Sweeper {
  sweep(nodes: readonly RunnerNode[]): Promise<SweepSource[]>;
}

export function sweepPair(src: string, peer: PeerProbes, underLoad: boolean): SweepPair {
  return {
    ...peer,
    src,
    connectivity: peer.received > 0 ? 1 : 0,
    lossRatio: peer.sent === 0 ? null : (peer.sent - peer.received) / peer.sent,
    underLoad,
  };
}

/** A test whose probe died leaves no finish time: after this long past its expected end it is over. */
const UNFINISHED_TEST_SLACK_SECONDS = 60;

/**
 * Nodes that were an end of a bandwidth test (one with TCP load) while
 * [from, to] lasted, by the round manifests: the probe writes a pair's
 * startedAt before the test and finishedAt after it.
 */
export function nodesUnderLoad(manifests: readonly RoundManifest[], from: Date, to: Date): Set<string> {
  const nodes = new Set<string>();
  for (const manifest of manifests) {
    if (TEST_TYPES[manifest.test].throughput.length === 0) continue;
    const longest =
      (expectedRunSeconds(manifest.lengthSeconds, manifest.delaySeconds ?? undefined) +
        UNFINISHED_TEST_SLACK_SECONDS) *
      1000;
    for (const pair of manifest.pairs) {
      if (pair.startedAt === null) continue;
      const started = Date.parse(pair.startedAt);
      const ended = pair.finishedAt === null ? started + longest : Date.parse(pair.finishedAt);
      if (started <= to.getTime() && ended >= from.getTime()) {
        nodes.add(pair.src);
        nodes.add(pair.dst);
      }
    }
  }
  return nodes;
}

/**
 * The sweep's load on one node while it runs, in bit/s each way: it sends
 * SWEEP_PROBES / SWEEP_PERIOD_MS echo requests to each of its n - 1 peers
 * and answers as many from each of them.
 */
export function sweepLoadBitsPerSecond(nodes: number): number {
  const perSecond = (1000 / SWEEP_PERIOD_MS) * 2 * (nodes - 1);
  return perSecond * SWEEP_FRAME_BYTES * 8;
}
