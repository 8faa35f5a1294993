import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { runChecked } from '../../layers/core/process.ts';
import { headlineOf } from '../../layers/domain/headline.ts';
import type { RunnerNode } from '../../layers/domain/runner.ts';
import { DEFAULT_SERVER_PORTS, UDP_LATENCY_SERIES } from '../../layers/domain/test-types.ts';
import { runFlent } from '../../layers/flent/run.ts';
import { validateFlentSpec } from '../../layers/flent/spec.ts';
import { LocalRunner } from '../../layers/local-runner/runner.ts';
import { flentStats, relativeDifference } from '../helpers/flent-stats.ts';

/**
 * udp_latency end to end on the rig: the local runner starts irtt's server in
 * b, flent's udp_latency (the project's test file) runs in a. b drops a fifth
 * of irtt's requests in its input chain, so every lost packet was lost up.
 */
const DROP_PERCENT = 20;
let cluster: SimCluster;
let workDir: string;

function node(name: string): RunnerNode {
  const n = cluster.node(name);
  return { name: n.name, address: n.address, netns: n.netns };
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'netmon-udp-latency-'));
  cluster = await SimCluster.create({ nodes: [{ name: 'a' }, { name: 'b' }] });
  const nft = (rule: string) =>
    runChecked([...cluster.prefix('b'), 'nft', ...rule.split(' ')], (m) => new Error(m));
  await nft('add table inet netmon_test_loss');
  await nft('add chain inet netmon_test_loss input { type filter hook input priority 0 ; policy accept ; }');
  await nft(
    `add rule inet netmon_test_loss input udp dport ${DEFAULT_SERVER_PORTS.irtt} numgen random mod 100 < ${DROP_PERCENT} drop`,
  );
});

afterAll(async () => {
  await cluster?.destroy();
  await rm(workDir, { recursive: true, force: true });
});

describe('udp_latency on the rig', () => {
  it('measures round trips, one-way delays both ways and the loss on the way up', async () => {
    const outcome = await new LocalRunner({ workDir }).run({
      src: node('a'),
      dst: node('b'),
      test: 'udp_latency',
      lengthSeconds: 2,
      delaySeconds: 0,
    });
    if (!outcome.ok) throw new Error(`udp_latency failed: ${JSON.stringify(outcome.failure)}`);
    const { summary } = outcome;
    expect(summary.test).toBe('udp_latency');
    const rtt = summary.latency[UDP_LATENCY_SERIES];
    expect(rtt?.runner).toBe('IrttRunner');
    const oneWay = summary.oneWay?.[UDP_LATENCY_SERIES];
    if (oneWay === undefined) throw new Error('no one-way figures');
    // 100 packets/s for 2 s, less the sends irtt skips when its timer fires late (a busy host).
    expect(oneWay.packetsSent).toBeGreaterThan(50);
    expect(oneWay.packetsSent).toBeLessThanOrEqual(201);
    expect(rtt?.count).toBe(oneWay.packetsReceived);
    for (const leg of [oneWay.up, oneWay.down]) {
      expect(leg.count).toBe(oneWay.packetsReceived);
      expect(leg.min).toBeGreaterThan(0);
      expect(leg.median).toBeLessThan(rtt?.median as number);
    }
    // Only b drops, and only requests: loss up near 20 %. irtt may fail to place a loss or two (a busy
    // host: a packet whose direction its feedback could not settle before the end); every loss is counted once.
    expect(oneWay.up.lossRatio).toBeGreaterThan(0.08);
    expect(oneWay.up.lossRatio).toBeLessThan(0.32);
    expect(oneWay.down.lost).toBeLessThan(oneWay.up.lost);
    expect(oneWay.lostUnknown).toBeLessThanOrEqual(2);
    expect(oneWay.packetsSent).toBe(
      oneWay.packetsReceived + oneWay.up.lost + oneWay.down.lost + oneWay.lostUnknown,
    );
    expect(headlineOf(summary)).toMatchObject({ probe: 'udp', lossRatio: oneWay.lossRatio });
    // The round trip figures are flent's own.
    const theirs = (await flentStats(outcome.archivePath))[UDP_LATENCY_SERIES];
    for (const key of ['min', 'median', 'p99', 'max', 'mean'] as const)
      expect(relativeDifference(rtt?.[key] as number, theirs?.[key] as number), key).toBeLessThan(0.01);
  }, 60_000);

  it('without an irtt server on dst it is server-missing: no fallback to netperf', async () => {
    const outputDir = await mkdtemp(join(workDir, 'no-irtt-'));
    const spec = validateFlentSpec({
      test: 'udp_latency',
      host: node('b').address,
      length: 2,
      delay: 0,
      outputDir,
    });
    const outcome = await runFlent(spec, { commandPrefix: cluster.prefix('a') });
    if (outcome.ok) throw new Error('udp_latency without a server succeeded');
    expect(outcome.failure).toMatchObject({ reason: 'server-missing', connectivity: 0 });
    expect(outcome.failure.message).toMatch(/no irtt server answers/);
  }, 30_000);
});
