import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimCluster as Cluster, type SimCluster } from '../../infra/rig/sim-cluster.ts';
import type { FlentSummary } from '../../layers/domain/figures.ts';
import type { RunnerNode } from '../../layers/domain/runner.ts';
import type { TestName } from '../../layers/domain/test-types.ts';
import { runFlent } from '../../layers/flent/run.ts';
import { validateFlentSpec } from '../../layers/flent/spec.ts';
import { LocalRunner, type LocalTestOutcome as TestOutcome } from '../../layers/local-runner/runner.ts';
import { flentStats, relativeDifference } from '../helpers/flent-stats.ts';
import { strayTestProcesses, suiteMark } from '../setup/global.ts';

/**
 * Real measurements on a real (simulated) network: three namespaces shaped to
 * 10, 20 and 40 Mbit/s. Tests are short (3 s) but long enough for TCP to
 * settle under tbf.
 */
const RATES: Record<string, number> = { a: 10e6, b: 20e6, c: 40e6 };
const LENGTH = 3;

let cluster: SimCluster;
let workDir: string;
let runner: LocalRunner;
/** Every archive written in this file, for the comparison with flent's own figures. */
const archives: string[] = [];

function node(name: string): RunnerNode {
  const n = cluster.node(name);
  return { name: n.name, address: n.address, netns: n.netns };
}

async function measure(
  src: string,
  dst: string,
  test: TestName,
  length = LENGTH,
  by: LocalRunner = runner,
): Promise<TestOutcome> {
  const outcome = await by.run({
    src: node(src),
    dst: node(dst),
    test,
    lengthSeconds: length,
    delaySeconds: 1,
  });
  if (outcome.ok) archives.push(outcome.archivePath);
  return outcome;
}

function expectSummary(outcome: TestOutcome): FlentSummary {
  if (!outcome.ok)
    throw new Error(`${outcome.src}->${outcome.dst} failed: ${JSON.stringify(outcome.failure)}`);
  return outcome.summary;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'netmon-measure-'));
  runner = new LocalRunner({ workDir });
  cluster = await Cluster.create({
    nodes: Object.entries(RATES).map(([name, rate]) => ({ name, rateBitsPerSecond: rate })),
    cuts: [['a', 'c']],
  });
});

afterAll(async () => {
  await cluster?.destroy();
  await rm(workDir, { recursive: true, force: true });
});

describe('bandwidth between shaped nodes', () => {
  const pairs = [
    ['a', 'b'],
    ['b', 'a'],
    ['b', 'c'],
    ['c', 'b'],
    ['c', 'a'],
  ] as const;

  it.each(pairs)(
    'tcp_upload %s->%s measures within 10 percent of the sender (src) rate',
    async (src, dst) => {
      const summary = expectSummary(await measure(src, dst, 'tcp_upload'));
      const measured = summary.throughput.upload.total?.mean ?? 0;
      expect(relativeDifference(measured, RATES[src] as number)).toBeLessThan(0.1);
      expect(summary.latency['Ping (ms) ICMP']?.count).toBeGreaterThan(0);
    },
    60_000,
  );

  it.each(pairs)(
    'tcp_download %s->%s measures within 10 percent of the sender (dst) rate',
    async (src, dst) => {
      const summary = expectSummary(await measure(src, dst, 'tcp_download'));
      const measured = summary.throughput.download.total?.mean ?? 0;
      expect(relativeDifference(measured, RATES[dst] as number)).toBeLessThan(0.1);
    },
    60_000,
  );
});

describe('connectivity', () => {
  it('a cut pair is unreachable within length + 15 s, its reverse is measured', async () => {
    const started = Date.now();
    const cut = await measure('a', 'c', 'tcp_upload');
    const seconds = (Date.now() - started) / 1000;
    expect(cut.ok).toBe(false);
    if (cut.ok) return;
    expect(cut.failure).toMatchObject({ connectivity: 0, reason: 'unreachable', test: 'tcp_upload' });
    expect(seconds).toBeLessThan(LENGTH + 15);
    // The reverse direction is not cut: a full measurement.
    const reverse = expectSummary(await measure('c', 'a', 'tcp_download'));
    expect(reverse.connectivity).toBe(1);
  }, 60_000);

  it('a host without netserver is server-missing', async () => {
    const outputDir = await mkdtemp(join(workDir, 'no-server-'));
    const spec = validateFlentSpec({
      test: 'tcp_upload',
      host: node('b').address,
      length: 2,
      delay: 0,
      outputDir,
    });
    const outcome = await runFlent(spec, { commandPrefix: cluster.prefix('a') });
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.failure.reason).toBe('server-missing');
    expect(outcome.failure.connectivity).toBe(0);
    expect(outcome.failure.stderrTail).toContain('netserver');
    // ICMP got through, so flent still wrote an archive: it is kept as the raw record.
    expect(outcome.failure.archivePath).toMatch(/\.flent\.gz$/);
  }, 60_000);

  it('a run over its hard timeout is stopped, its tools with it, and reported as timeout', async () => {
    const since = Date.now();
    const outputDir = await mkdtemp(join(workDir, 'timeout-'));
    const spec = validateFlentSpec({
      test: 'ping',
      host: node('b').address,
      length: 20,
      delay: 0,
      outputDir,
    });
    const outcome = await runFlent(spec, { commandPrefix: cluster.prefix('a'), timeoutMs: 2000 });
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.failure.reason).toBe('timeout');
    expect(Date.now() - since).toBeLessThan(10_000);
    // flent's fping and netperf must not outlive it.
    expect(await strayTestProcesses(0, suiteMark())).toEqual([]);
  }, 30_000);
});

describe('server ports are settings', () => {
  it('with netserver and irtt on other ports, tcp_upload measures; flent then runs its UDP probes over netperf', async () => {
    const moved = new LocalRunner({ workDir, ports: { netserver: 12999, irtt: 2199 } });
    const ping = expectSummary(await measure('a', 'b', 'ping', 2, moved));
    expect(ping.latency['Ping (ms) ICMP']?.count).toBeGreaterThan(0);
    // flent's irtt client only knows port 2112: its UDP runner falls back to netperf UDP_RR on our netserver port.
    expect(ping.latency['Ping (ms) UDP']?.count).toBeGreaterThan(0);
    expect(ping.latency['Ping (ms) UDP']?.runner).not.toBe('IrttRunner');
    const summary = expectSummary(await measure('b', 'a', 'tcp_upload', LENGTH, moved));
    expect(relativeDifference(summary.throughput.upload.total?.mean ?? 0, RATES.b as number)).toBeLessThan(
      0.1,
    );
  }, 60_000);
});

describe('node names are data', () => {
  it('a node named ../../x keeps its run inside the work dir', async () => {
    const escaping = new LocalRunner({ workDir: join(workDir, 'inner') });
    const outcome = await escaping.run({
      src: { ...node('a'), name: '../../x' },
      dst: node('b'),
      test: 'ping',
      lengthSeconds: 1,
      delaySeconds: 0,
    });
    if (!outcome.ok) throw new Error(JSON.stringify(outcome.failure));
    expect(dirname(dirname(outcome.archivePath))).toBe(join(workDir, 'inner'));
    // Unencoded, the run would be <workDir>/inner/../../x-b-XXXXXX: beside the work dir.
    expect((await readdir(dirname(workDir))).filter((name) => name.startsWith('x-b-'))).toEqual([]);
  }, 30_000);
});

describe('archives match flent', () => {
  it('rrul and ping archives parse, with latency series and per-flow throughput', async () => {
    const rrul = expectSummary(await measure('b', 'c', 'rrul'));
    expect(Object.keys(rrul.throughput.upload.flows)).toHaveLength(4);
    expect(rrul.throughput.upload.total?.mean).toBeGreaterThan(0);
    expect(rrul.throughput.download.total?.mean).toBeGreaterThan(0);
    expect(rrul.latency['Ping (ms) UDP BE']?.count).toBeGreaterThan(0);
    const ping = expectSummary(await measure('c', 'b', 'ping'));
    expect(ping.latency['Ping (ms) ICMP']?.lossRatio).toBe(0);
    expect(ping.latency['Ping (ms) UDP']?.runner).toBe('IrttRunner');
  }, 60_000);

  it('every figure of every archive of this run matches `flent -f stats` within 1%', async () => {
    expect(archives.length).toBeGreaterThanOrEqual(12);
    const { readArchiveFile } = await import('../../layers/flent/archive.ts');
    const { summarizeArchive } = await import('../../layers/flent/summary.ts');
    let compared = 0;
    for (const file of archives) {
      const ours = summarizeArchive(await readArchiveFile(file)).series;
      const theirs = await flentStats(file);
      for (const [name, figures] of Object.entries(theirs)) {
        const mine = ours[name];
        expect(mine, `${file}: ${name}`).toBeDefined();
        for (const key of ['min', 'median', 'p99', 'max', 'mean'] as const) {
          const value = mine?.[key];
          expect(value, `${file}: ${name} ${key}`).not.toBeNull();
          expect(relativeDifference(value as number, figures[key]), `${file}: ${name} ${key}`).toBeLessThan(
            0.01,
          );
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(100);
  }, 120_000);
});
