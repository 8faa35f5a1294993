import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { goBinary } from '../../infra/rig/go-binary.ts';
import { listRigObjects, type SimCluster, withSimCluster } from '../../infra/rig/sim-cluster.ts';
import { runProcess, startProcess, waitFor } from '../../layers/core/process.ts';
import { binomialInterval } from '../helpers/ground-truth.ts';

/**
 * Per-node egress delay (the delay line) and loss (nftables) of the
 * simulated cluster, checked as the ground truth they are meant to be: the
 * round trip of every ordered pair is d(src) + d(dst) over the baseline,
 * loss shows only where injected and as much as injected, a shaped node
 * still reaches its rate through its delay line, and nothing is left behind.
 */

const PROBES = 2000;

/** Node specs: two undelayed nodes give the baseline; c is delayed and lossy. */
const NODES = [
  { name: 'a' },
  { name: 'base' },
  { name: 'b', delaySeconds: 0.005, rateBitsPerSecond: 20e6 },
  { name: 'c', delaySeconds: 0.012, lossRatio: 0.02 },
] as const;

interface PingResult {
  sent: number;
  received: number;
  rttsMs: number[];
}

async function ping(cluster: SimCluster, src: string, dst: string): Promise<PingResult> {
  // -i 0.002 needs root; -W 1: do not linger 10 s for the replies of the last lost probes.
  const result = await runProcess(
    [
      ...cluster.prefix(src),
      'ping',
      '-n',
      '-i',
      '0.002',
      '-c',
      String(PROBES),
      '-W',
      '1',
      cluster.node(dst).address,
    ],
    { timeoutMs: 30_000 },
  );
  const summary = /(\d+) packets transmitted, (\d+) received/.exec(result.stdout);
  if (summary === null) throw new Error(`ping ${src}->${dst}: no summary: ${result.stderr || result.stdout}`);
  const rttsMs = [...result.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return { sent: Number(summary[1]), received: Number(summary[2]), rttsMs };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function netnsPids(netns: string): Promise<number[]> {
  const out = (await runProcess(['ip', 'netns', 'pids', netns])).stdout;
  return out.split(/\s+/).filter(Boolean).map(Number);
}

/** The command line of a live process; undefined once it is gone (a zombie has none either). */
async function commandOf(pid: number): Promise<string | undefined> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline === '' ? undefined : cmdline.split('\0').join(' ');
}

async function rootHasLink(name: string): Promise<boolean> {
  return (await runProcess(['ip', 'link', 'show', name])).exitCode === 0;
}

describe('simulated cluster: injected egress delay and loss', () => {
  beforeAll(async () => {
    // Build (or find) the delay line once, outside the timed tests: 1-2 s with
    // Go's build cache warm, up to ~2 min cold on a busy 2-core host.
    await goBinary('delay-line');
  }, 300_000);

  it('round trips add d(src) + d(dst), loss shows only where injected, rates still hold, teardown leaves nothing', async () => {
    let id = '';
    let netns: string[] = [];
    const linePids: number[] = [];
    await withSimCluster({ nodes: NODES }, async (cluster) => {
      id = cluster.id;
      netns = cluster.nodes.map((n) => n.netns);
      for (const name of ['b', 'c']) {
        const pids = await netnsPids(cluster.node(name).netns);
        const commands = await Promise.all(pids.map(commandOf));
        expect(commands.some((c) => c?.includes('delay-line') === true)).toBe(true);
        linePids.push(...pids);
      }
      expect(await netnsPids(cluster.node('a').netns)).toEqual([]);

      // Every ordered pair at once: each probe stream runs in its own namespaces.
      const pairs = cluster.nodes.flatMap((s) =>
        cluster.nodes.filter((d) => d !== s).map((d) => [s.name, d.name] as const),
      );
      const results = await Promise.all(pairs.map(([src, dst]) => ping(cluster, src, dst)));
      const byPair = new Map(pairs.map(([src, dst], i) => [`${src}>${dst}`, results[i] as PingResult]));
      const baseline = median([
        ...(byPair.get('a>base') as PingResult).rttsMs,
        ...(byPair.get('base>a') as PingResult).rttsMs,
      ]);
      expect(baseline).toBeLessThan(1);

      const rows: string[] = [];
      const problems: string[] = [];
      for (const [src, dst] of pairs) {
        const result = byPair.get(`${src}>${dst}`) as PingResult;
        const from = cluster.node(src);
        const to = cluster.node(dst);
        const expectedMs = (from.delaySeconds + to.delaySeconds) * 1000 + baseline;
        const medianMs = median(result.rttsMs);
        const toleranceMs = Math.max(0.3, 0.03 * expectedMs);
        const lossP = 1 - (1 - from.lossRatio) * (1 - to.lossRatio);
        const [lo, hi] = binomialInterval(result.sent, lossP, 0.999);
        const lost = result.sent - result.received;
        rows.push(
          `${src}->${dst}: median ${medianMs.toFixed(3)} ms (expected ${expectedMs.toFixed(3)} ± ${toleranceMs.toFixed(3)}), lost ${lost}/${result.sent} (expected ${lo}..${hi})`,
        );
        if (result.sent !== PROBES) problems.push(`${src}->${dst}: sent ${result.sent}`);
        if (Math.abs(medianMs - expectedMs) > toleranceMs)
          problems.push(`${src}->${dst}: median ${medianMs}`);
        if (lost < lo || lost > hi) problems.push(`${src}->${dst}: lost ${lost}`);
      }
      console.log(`baseline ${baseline.toFixed(3)} ms\n${rows.join('\n')}`);
      expect(problems).toEqual([]);

      // A TCP stream out of b: 5 ms of delay, then b's tbf at 20 Mbit/s.
      const server = startProcess([
        'setpriv',
        '--pdeathsig',
        'KILL',
        ...cluster.prefix('a'),
        'netserver',
        '-D',
        '-4',
        '-L',
        cluster.node('a').address,
      ]);
      try {
        await waitFor('netserver', async () => {
          const ss = await runProcess([...cluster.prefix('a'), 'ss', '-Hltn', 'sport', '=', ':12865']);
          return ss.stdout.includes(':12865');
        });
        const stream = await runProcess(
          [
            ...cluster.prefix('b'),
            'netperf',
            '-H',
            cluster.node('a').address,
            '-l',
            '4',
            '-t',
            'TCP_STREAM',
            '-P',
            '0',
          ],
          { timeoutMs: 20_000 },
        );
        expect(stream.exitCode).toBe(0);
        const mbits = Number(stream.stdout.trim().split(/\s+/)[4]);
        console.log(`TCP b->a through 5 ms and tbf 20 Mbit/s: ${mbits} Mbit/s`);
        expect(mbits).toBeGreaterThan(0.9 * 20);
        expect(mbits).toBeLessThan(20);
      } finally {
        await server.stop();
      }
    });

    // Nothing left: namespaces, links (the TUNs lived in the namespaces), delay lines.
    const all = await listRigObjects();
    expect(all.netns.filter((n) => netns.includes(n))).toEqual([]);
    expect(all.links.filter((l) => l.startsWith(`nm${Number(id.split('-')[0]).toString(36)}.`))).toEqual([]);
    expect(await rootHasLink('dly0')).toBe(false);
    await waitFor(
      'the delay lines to be gone',
      async () => (await Promise.all(linePids.map(commandOf))).every((c) => c === undefined),
      { timeoutMs: 5000 },
    );
  }, 40_000);

  it('the delay line dies with its parent, even one killed outright', async () => {
    const { path } = await goBinary('delay-line');
    await withSimCluster({ nodes: [{ name: 'x' }, { name: 'y' }] }, async (cluster) => {
      const ns = cluster.node('x').netns;
      expect(
        (await runProcess(['ip', '-n', ns, 'tuntap', 'add', 'dev', 'dlyt', 'mode', 'tun'])).exitCode,
      ).toBe(0);
      // Up, so that the carrier (LOWER_UP) shows once the line attaches.
      expect((await runProcess(['ip', '-n', ns, 'link', 'set', 'dlyt', 'up'])).exitCode).toBe(0);
      // A parent shell that starts the line without setpriv: the line's own prctl must do it.
      const parent = startProcess([
        'bash',
        '-c',
        `ip netns exec ${ns} ${path} -tun dlyt -delay 1ms & echo $!; exec sleep 60`,
      ]);
      let linePid = 0;
      await waitFor('the delay line to attach', async () => {
        linePid = (await netnsPids(ns))[0] ?? 0;
        const link = await runProcess(['ip', '-n', ns, 'link', 'show', 'dlyt']);
        return linePid !== 0 && link.stdout.includes('LOWER_UP');
      });
      expect(await commandOf(linePid)).toContain('delay-line');
      // SIGKILL to the parent alone (not its group): nothing of it can clean up.
      process.kill(parent.pid as number, 'SIGKILL');
      await waitFor(
        'the delay line to die with its parent',
        async () => (await commandOf(linePid)) === undefined,
        {
          timeoutMs: 5000,
        },
      );
      await parent.done;
    });
  });
});
