import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../layers/core/process.ts';
import type { RoundManifest } from '../../layers/domain/round.ts';
import { nodesUnderLoad, type PeerProbes, sweepLoadBitsPerSecond } from '../../layers/domain/sweep.ts';
import { DEFAULT_SERVER_PORTS } from '../../layers/domain/test-types.ts';
import { sweepArgv, sweepResult } from '../../layers/flent/fping.ts';
import { decodeSweepReport, encodeSweepReport } from '../../layers/flent/sweep-report.ts';
import { clientPod, LABELS, MANAGED_BY, sweepPod } from '../../layers/k8s/pods.ts';

/** fping 5.1's -C summary as it prints it (host names padded to one width), after a cut of .12. */
const FPING_STDERR = [
  '198.18.7.11  : 0.034 0.041 - 0.050 0.029 0.031 0.040 0.038 0.036 0.044',
  '198.18.7.12  : - - - - - - - - - -',
  '',
].join('\n');
const run = (stderr: string, exitCode: number | null): RunResult => ({
  argv: [],
  exitCode,
  signal: null,
  timedOut: false,
  stdout: '',
  stderr,
  durationMs: 1900,
});
const targets = [
  { name: 'node-b', address: '198.18.7.11' },
  { name: 'node-c', address: '198.18.7.12' },
  { name: 'node-d', address: '198.18.7.13' },
];

describe('sweep probes from fping', () => {
  it('probes every peer at 10/s, bound for an unprivileged ICMP socket', () => {
    expect(sweepArgv(['198.18.7.11'])).toEqual([
      'fping',
      '-q',
      '-S',
      '0.0.0.0',
      '-C',
      '10',
      '-p',
      '100',
      '-i',
      '1',
      '-t',
      '1000',
      '198.18.7.11',
    ]);
  });

  it('reads sent, received and RTTs in seconds per peer; an unreported peer got nothing back', () => {
    const peers = sweepResult(run(FPING_STDERR, 1), targets) as PeerProbes[];
    expect(peers.map((p) => [p.dst, p.sent, p.received])).toEqual([
      ['node-b', 10, 9],
      ['node-c', 10, 0],
      ['node-d', 10, 0],
    ]);
    expect(peers[0]?.rttMinSeconds).toBeCloseTo(0.000029, 9);
    expect(peers[0]?.rttMedianSeconds).toBeCloseTo(0.000038, 9);
    expect(peers[1]?.rttMedianSeconds).toBeNull();
  });

  it('an fping that cannot probe (no ICMP socket: exit 4) says why instead of reporting every peer lost', () => {
    expect(sweepResult(run("fping: can't create socket (must run as root?)\n", 4), targets)).toBe(
      "fping exited 4: fping: can't create socket (must run as root?)",
    );
  });
});

describe('sweep report in a termination message', () => {
  it('99 peers fit in 4096 bytes and read back to the microsecond', () => {
    const peers: PeerProbes[] = Array.from({ length: 99 }, (_, i) => ({
      dst: `node-${i}`,
      sent: 10,
      received: i === 7 ? 0 : 10 - (i % 3),
      rttMinSeconds: i === 7 ? null : 0.000412 + i * 1e-6,
      rttMedianSeconds: i === 7 ? null : 0.000731,
      rttP99Seconds: i === 7 ? null : 0.012345,
    }));
    const text = encodeSweepReport({ start: '2026-12-02T00:00:00.000Z', durationSeconds: 1.9, peers });
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
    const back = decodeSweepReport(
      text,
      peers.map((p) => p.dst),
    );
    expect(back.peers).toHaveLength(99);
    for (const [i, peer] of (back.peers as PeerProbes[]).entries()) {
      const sent = peers[i] as PeerProbes;
      expect(peer).toMatchObject({ dst: sent.dst, sent: 10, received: sent.received });
      if (sent.rttMedianSeconds === null) expect(peer.rttMedianSeconds).toBeNull();
      else expect(peer.rttMedianSeconds).toBeCloseTo(sent.rttMedianSeconds, 6);
    }
  });

  it("a pod's own failure comes back as its message", () => {
    const text = encodeSweepReport({ start: 'x', durationSeconds: 0.1, peers: 'fping exited 4: no socket' });
    expect(decodeSweepReport(text, ['a']).peers).toBe('fping exited 4: no socket');
  });
});

describe('pairs under load', () => {
  const manifest = (test: RoundManifest['test'], pairs: Array<[string, string, string, string | null]>) =>
    ({
      test,
      lengthSeconds: 30,
      delaySeconds: 2,
      pairs: pairs.map(([src, dst, startedAt, finishedAt]) => ({ src, dst, startedAt, finishedAt })),
    }) as RoundManifest;
  const from = new Date('2026-12-02T10:00:00Z');
  const to = new Date('2026-12-02T10:00:02Z');

  it('both ends of a bandwidth test that overlaps the sweep, running or finished during it', () => {
    const nodes = nodesUnderLoad(
      [
        manifest('rrul', [
          ['a', 'b', '2026-12-02T09:59:50Z', null],
          ['c', 'd', '2026-12-02T09:59:30Z', '2026-12-02T10:00:01Z'],
          ['e', 'f', '2026-12-02T09:58:00Z', '2026-12-02T09:58:34Z'],
        ]),
        // No TCP load: pings never make a pair "under load".
        manifest('ping', [['g', 'h', '2026-12-02T09:59:59Z', null]]),
      ],
      from,
      to,
    );
    expect([...nodes].sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a test whose probe died (no finish time) counts only until its expected end plus a minute', () => {
    const stale = manifest('tcp_upload', [['a', 'b', '2026-12-02T09:55:00Z', null]]);
    expect(nodesUnderLoad([stale], from, to).size).toBe(0);
  });
});

describe('sweep load per node (the README figure)', () => {
  it('is 20 probes a second per peer (requests sent and answered) of 98-byte frames', () => {
    expect(sweepLoadBitsPerSecond(20)).toBe(297_920);
    expect(sweepLoadBitsPerSecond(100)).toBe(1_552_320);
  });
});

describe('sweep pod', () => {
  const settings = {
    namespace: 'netmon',
    image: 'flent:1',
    hostNetwork: false,
    agentCommand: ['node', '/opt/netmon/agent.js'],
    s3Env: {},
    slackSeconds: 60,
    ports: DEFAULT_SERVER_PORTS,
  };
  const request = {
    src: { name: 'node-a', address: '10.0.0.1' },
    dst: { name: 'node-b', address: '10.0.0.2' },
    test: 'ping' as const,
    lengthSeconds: 10,
  };

  it('is pinned to its node and hardened exactly like a test pod, ICMP allowed for its group', () => {
    const pod = sweepPod(
      { node: 'node-a', targets: ['10.0.0.2', '10.0.0.3'], sweepId: 'abc', deadlineSeconds: 30 },
      settings,
    );
    const client = clientPod(request, { schedule: 's', round: 'r', runId: 'x' }, settings, '10.0.0.2');
    expect(pod.spec).toMatchObject({
      nodeName: 'node-a',
      activeDeadlineSeconds: 30,
      automountServiceAccountToken: false,
      securityContext: client.spec?.securityContext,
    });
    expect(pod.spec?.containers[0]?.securityContext).toEqual(client.spec?.containers[0]?.securityContext);
    expect(pod.spec?.containers[0]?.command).toEqual([
      ...settings.agentCommand,
      'sweep',
      '10.0.0.2',
      '10.0.0.3',
    ]);
    // Its own manager: the probe's cleanup of crashed tests' pods never deletes a running sweep.
    expect(pod.metadata?.labels?.[LABELS.managedBy]).not.toBe(MANAGED_BY);
  });
});
