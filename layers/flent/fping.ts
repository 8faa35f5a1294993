import { lastLines, type RunResult } from '../core/process.ts';
import { describe } from '../core/stats.ts';
import { type PeerProbes, SWEEP_PERIOD_MS, SWEEP_PROBES, SWEEP_REPLY_TIMEOUT_MS } from '../domain/sweep.ts';

/**
 * fping for the sweep: every peer at once, per-probe RTTs (-C) parsed into
 * PeerProbes. Like the reachability check (icmpCheckArgv in run.ts) it binds
 * with `-S 0.0.0.0`, without which fping 5.1 on an unprivileged ICMP socket
 * drops every reply.
 */

/** -i 1: fping's smallest gap between any two packets, so 99 peers still fit in one 100 ms period. */
export function sweepArgv(targets: readonly string[], fping = 'fping'): string[] {
  return [
    fping,
    '-q',
    '-S',
    '0.0.0.0',
    '-C',
    String(SWEEP_PROBES),
    '-p',
    String(SWEEP_PERIOD_MS),
    '-i',
    '1',
    '-t',
    String(SWEEP_REPLY_TIMEOUT_MS),
    ...targets,
  ];
}

/** How long a sweep's fping may run: the probes, the last reply's timeout, slack for a busy node. */
export const SWEEP_RUN_TIMEOUT_MS = SWEEP_PROBES * SWEEP_PERIOD_MS + SWEEP_REPLY_TIMEOUT_MS + 5000;

/** `host : 0.12 0.10 - 0.11` (milliseconds, "-" for no reply), one line per target on stderr. */
const VCOUNT_LINE = /^(\S+)\s+:((?:\s+(?:\d+(?:\.\d+)?|-))+)\s*$/;

/** The RTTs (seconds, null for a lost probe) of each target fping reported. */
export function parseVcount(stderr: string): Map<string, Array<number | null>> {
  const hosts = new Map<string, Array<number | null>>();
  for (const line of stderr.split('\n')) {
    const match = VCOUNT_LINE.exec(line.trim());
    if (match === null) continue;
    const values = (match[2] as string)
      .trim()
      .split(/\s+/)
      .map((v) => (v === '-' ? null : Number(v) / 1000));
    hosts.set(match[1] as string, values);
  }
  return hosts;
}

export function peerProbes(dst: string, rtts: ReadonlyArray<number | null>): PeerProbes {
  const received = rtts.filter((v): v is number => v !== null);
  const stats = describe(received);
  return {
    dst,
    sent: rtts.length,
    received: received.length,
    rttMinSeconds: stats.min,
    rttMedianSeconds: stats.median,
    rttP99Seconds: stats.p99,
  };
}

/**
 * A finished fping run as each target's probes, in target order; a target
 * fping did not report counts as SWEEP_PROBES sent, none answered. A string
 * when fping itself failed (bad arguments, no ICMP socket: exit 3 or 4; not
 * executable), so it says nothing about the peers.
 */
export function sweepResult(
  run: RunResult,
  targets: ReadonlyArray<{ name: string; address: string }>,
): PeerProbes[] | string {
  if (run.timedOut) return `fping did not finish within ${SWEEP_RUN_TIMEOUT_MS / 1000} s`;
  if (run.exitCode !== 0 && run.exitCode !== 1 && run.exitCode !== 2)
    return `fping exited ${run.exitCode ?? run.signal}: ${lastLines(run.stderr.trim(), 2) || 'no message'}`;
  const hosts = parseVcount(run.stderr);
  return targets.map(({ name, address }) =>
    peerProbes(name, hosts.get(address) ?? new Array<null>(SWEEP_PROBES).fill(null)),
  );
}
