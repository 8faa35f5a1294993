import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import type { RunResult } from '../../layers/core/process.ts';
import { waitFor } from '../../layers/core/process.ts';
import type { TestRecord } from '../../layers/domain/record.ts';
import type { RoundManifest } from '../../layers/domain/round.ts';
import { instantQuery } from '../../layers/metrics/query.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import { soloKey } from '../../layers/store/keys.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { relativeDifference } from '../helpers/flent-stats.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe } from '../helpers/probes.ts';
import { roundRecords, sharedNodeOverlaps } from '../helpers/rounds.ts';

/**
 * A bandwidth round in node-disjoint slots: plan and probe as their CronJobs
 * start them, real s3rver, SQS and Pushgateway, flent between network
 * namespaces shaped by tbf. The gain is read from the round's own tests
 * (their summed time against the round's), which keeps the suite short: a
 * serial round of the same nodes would add two minutes.
 */
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
/** Each node's shaped egress, bit/s: tcp_upload data flows src -> dst, so a pair measures its src's rate. */
const rateOf = (name: string): number => 10e6 * (NODES.indexOf(name) + 1);
const PAIRS = NODES.flatMap((s) => NODES.filter((d) => d !== s).map((d) => `${s}>${d}`)).sort();

let fixture: StackFixture;
let cluster: SimCluster;
let store: ObjectStore;

interface Round {
  manifest: RoundManifest;
  records: TestRecord[];
  /** From the round's first test start to its last test end. */
  seconds: number;
}

function envFor(name: string, concurrency?: object): NodeJS.ProcessEnv {
  return {
    ...fixture.env,
    NETMON_SCHEDULES: JSON.stringify([
      { name, cron: '* * * * *', test: 'tcp_upload', lengthSeconds: 2, delaySeconds: 0, concurrency },
    ]),
  };
}

const ran = (what: string, result: RunResult): RunResult => {
  if (result.exitCode !== 0) throw new Error(`${what} exited ${result.exitCode}: ${result.stderr}`);
  return result;
};

async function runRound(name: string, concurrency?: object): Promise<Round> {
  ran('plan', await startPlan(envFor(name, concurrency)).done);
  ran('probe', await startProbe(envFor(name, concurrency)).done);
  const manifest = (await latestManifest(store, name)) as RoundManifest;
  const records = await roundRecords(store, name, manifest.round);
  const starts = records.map((r) => Date.parse(r.startTime));
  const ends = records.map((r) => Date.parse(r.endTime));
  return { manifest, records, seconds: (Math.max(...ends) - Math.min(...starts)) / 1000 };
}

function expectRates(records: readonly TestRecord[]): void {
  for (const record of records) {
    const measured = record.summary?.throughput.upload.total?.mean ?? 0;
    expect(
      relativeDifference(measured, rateOf(record.src)),
      `${record.src}>${record.dst}: ${measured}`,
    ).toBeLessThan(0.1);
  }
}

let disjoint: Round;

beforeAll(async () => {
  fixture = await startStackFixture({ visibilityTimeoutSeconds: 30 });
  store = storeFrom(fixture.env);
  cluster = await SimCluster.create({
    nodes: NODES.map((name) => ({ name, rateBitsPerSecond: rateOf(name) })),
  });
  await fixture.writeNodes(cluster.clusterNodes());
  disjoint = await runRound('disjoint', { mode: 'disjoint', maxParallel: 3 });
}, 240_000);

afterAll(async () => {
  await cluster?.destroy();
  await fixture?.stop();
});

describe('a bandwidth round in node-disjoint slots (6 nodes, maxParallel 3)', () => {
  it('plan puts every ordered pair in exactly one of 2(N-1) slots of node-disjoint pairs', () => {
    const { manifest } = disjoint;
    expect(manifest.concurrency).toEqual({ mode: 'disjoint', maxParallel: 3 });
    expect(manifest.pairs.map((p) => `${p.src}>${p.dst}`).sort()).toEqual(PAIRS);
    const slots = new Map<number, string[]>();
    for (const pair of manifest.pairs)
      slots.set(pair.slot ?? -1, [...(slots.get(pair.slot ?? -1) ?? []), pair.src, pair.dst]);
    expect(slots.size).toBe(2 * (NODES.length - 1));
    for (const [slot, nodes] of slots) expect(new Set(nodes).size, `slot ${slot}`).toBe(nodes.length);
  });

  it('measures every ordered pair once, no node ever in two tests at once, each at its shaped rate', () => {
    expect(disjoint.records.map((r) => `${r.src}>${r.dst}`).sort()).toEqual(PAIRS);
    expect(disjoint.records.every((r) => r.connectivity === 1 && r.concurrency === 'disjoint')).toBe(true);
    expect(sharedNodeOverlaps(disjoint.records)).toEqual([]);
    // The slots did run at once: tests overlapped (else this is a serial round in disguise).
    const overlapping = disjoint.records.filter((a) =>
      disjoint.records.some(
        (b) =>
          b !== a &&
          Date.parse(a.startTime) < Date.parse(b.endTime) &&
          Date.parse(b.startTime) < Date.parse(a.endTime),
      ),
    );
    expect(overlapping.length).toBe(disjoint.records.length);
    expectRates(disjoint.records);
  });

  it("takes a fraction of its tests' summed time: at most 0.6 (ideal 1/3 with 3 tests at once)", () => {
    // Run one after another, the same tests would take at least their summed durations.
    const summed = disjoint.records.reduce((sum, r) => sum + r.durationSeconds, 0);
    const ratio = disjoint.seconds / summed;
    console.log(
      `disjoint round of 6 nodes (maxParallel 3): ${disjoint.seconds.toFixed(1)} s for tests summing ${summed.toFixed(1)} s, ratio ${ratio.toFixed(3)}`,
    );
    expect(ratio).toBeLessThanOrEqual(0.6);
  });

  it('measures one pair again alone after its slots: parallel/solo near 1 on links that share nothing, in netmon_parallel_solo_ratio', async () => {
    const { manifest, records } = disjoint;
    // The first round's check: the first pair (sorted) of a slot of several pairs.
    expect(manifest.solo).toMatchObject({ src: 'n1', dst: 'n2', state: 'done', reason: null });
    expect(manifest.closedAt).not.toBeNull();
    const stored = JSON.parse(
      Buffer.from((await store.getBytes(soloKey('disjoint', manifest.round))) ?? []).toString(),
    ) as { parallel: TestRecord; solo: TestRecord; ratios: { figure: string; ratio: number }[] };
    const parallel = records.find((r) => r.src === 'n1' && r.dst === 'n2') as TestRecord;
    expect(stored.parallel.runId).toBe(parallel.runId);
    expect(stored.solo.runId).toBe(manifest.solo?.soloRunId);
    // Alone: after every test of the round ended.
    const lastEnd = Math.max(...records.map((r) => Date.parse(r.endTime)));
    expect(Date.parse(stored.solo.startTime)).toBeGreaterThanOrEqual(lastEnd);
    const throughput = stored.ratios.find((r) => r.figure === 'throughput_src_to_dst');
    console.log(
      `solo check n1>n2: ${stored.ratios.map((r) => `${r.figure} ${r.ratio.toFixed(3)}`).join(', ')}`,
    );
    // Each pair has its own shaped veth pair on the bridge: nothing shared, so no interference.
    expect(throughput?.ratio).toBeGreaterThan(0.9);
    expect(throughput?.ratio).toBeLessThan(1.1);
    const query = 'netmon_parallel_solo_ratio{figure="throughput_src_to_dst"}';
    await waitFor(
      'Prometheus to scrape the solo ratio',
      async () => (await instantQuery(fixture.stack.prometheusUrl, query)).length > 0,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const [sample] = await instantQuery(fixture.stack.prometheusUrl, query);
    expect(sample?.metric).toMatchObject({
      job: 'netmon_solo',
      schedule: 'disjoint',
      src: 'n1',
      dst: 'n2',
      test: 'tcp_upload',
    });
    expect(Number(sample?.value[1])).toBeCloseTo(throughput?.ratio ?? 0, 6);
  });
});
