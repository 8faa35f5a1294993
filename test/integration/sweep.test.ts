import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { helmBinary } from '../../infra/cluster/control-plane.ts';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { type ManagedProcess, type RunResult, runProcess, waitFor } from '../../layers/core/process.ts';
import { orderedPairs } from '../../layers/domain/pairs.ts';
import { instantQuery } from '../../layers/metrics/query.ts';
import { querySweepPairs, type SweepPairMetrics } from '../../layers/metrics/sweep.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import type { SweepReport } from '../../layers/pipeline/sweep.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe, startSweep } from '../helpers/probes.ts';

/**
 * The sweep as its CronJob runs it (dist/sweep.js), on 8 simulated nodes,
 * against the real Pushgateway and Prometheus, beside a real bandwidth test.
 */
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8'];
/** The sweep CronJob's default schedule, every minute. */
const SWEEP_INTERVAL_MS = 60_000;
const SCHEDULE = 'load';
const CHART = fileURLToPath(new URL('../../k8s/netmon', import.meta.url));

interface PrometheusRule {
  spec: { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
}

let fixture: StackFixture;
let cluster: SimCluster;
let probe: ManagedProcess | undefined;
let env: NodeJS.ProcessEnv;

async function runSweep(): Promise<SweepReport> {
  const result: RunResult = await startSweep(env).done;
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as SweepReport;
}

async function sweptPairs(): Promise<SweepPairMetrics[]> {
  return querySweepPairs(fixture.stack.prometheusUrl);
}

beforeAll(async () => {
  fixture = await startStackFixture();
  cluster = await SimCluster.create({ nodes: NODES.map((name) => ({ name })) });
  await fixture.writeNodes(cluster.clusterNodes());
  env = {
    ...fixture.env,
    NETMON_SCHEDULES: JSON.stringify([
      { name: SCHEDULE, cron: '* * * * *', test: 'tcp_upload', lengthSeconds: 8, delaySeconds: 1 },
    ]),
  };
}, 60_000);

afterAll(async () => {
  await probe?.stop();
  await cluster?.destroy();
  await fixture?.stop();
});

describe('sweep on 8 simulated nodes', () => {
  it('runs beside a bandwidth test without its lock: every ordered pair in Prometheus, under load where an end is in the test', async () => {
    // The bandwidth test's round has only n1 and n2 (its own node file).
    const testNodes = join(fixture.dir, 'test-nodes.json');
    await writeFile(
      testNodes,
      JSON.stringify(cluster.clusterNodes().filter((n) => ['n1', 'n2'].includes(n.name))),
    );
    const testEnv = { ...env, NETMON_NODES_FILE: testNodes };
    expect((await startPlan(testEnv).done).exitCode).toBe(0);
    probe = startProbe(testEnv);
    const store = storeFrom(env);
    await waitFor(
      'the first bandwidth test to start',
      async () => (await latestManifest(store, SCHEDULE))?.pairs.some((p) => p.startedAt !== null) ?? false,
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    const report = await runSweep();
    const sweepEnd = Date.parse(report.startedAt) + report.durationSeconds * 1000;
    const during = await latestManifest(store, SCHEDULE);
    // The test (holding the test lock) was still running when the sweep had finished.
    expect(
      during?.pairs.some(
        (p) => p.startedAt !== null && (p.finishedAt === null || Date.parse(p.finishedAt) > sweepEnd),
      ),
    ).toBe(true);
    expect(report).toMatchObject({ nodes: 8, pairs: 56, unreachable: [], failedSources: [], underLoad: 26 });

    await waitFor('56 swept pairs in Prometheus', async () => (await sweptPairs()).length === 56, {
      timeoutMs: 15_000,
      intervalMs: 250,
    });
    const pairs = await sweptPairs();
    expect(pairs.map((p) => `${p.src}>${p.dst}`)).toEqual(
      orderedPairs(NODES).map((p) => `${p.src}>${p.dst}`),
    );
    for (const pair of pairs) {
      const label = `${pair.src}>${pair.dst}`;
      expect(pair, label).toMatchObject({ connectivity: 1, sent: 10, received: 10, lossRatio: 0 });
      expect(pair.rttMedianSeconds, label).toBeGreaterThan(0);
      expect(pair.rttMinSeconds ?? 1, label).toBeLessThanOrEqual(pair.rttMedianSeconds ?? 0);
      expect(pair.rttMedianSeconds ?? 1, label).toBeLessThanOrEqual(pair.rttP99Seconds ?? 0);
      const loaded = ['n1', 'n2'].some((n) => n === pair.src || n === pair.dst);
      expect(pair.underLoad, label).toBe(loaded);
    }
    expect((await probe.done).exitCode).toBe(0);
  }, 90_000);

  it('a cut right after a sweep (the worst moment) is connectivity 0 in Prometheus within 90 s at a sweep a minute', async () => {
    const tick = Date.now();
    await runSweep();
    await cluster.cut('n3', 'n4');
    const cutAt = Date.now();
    // The CronJob's next tick.
    await sleep(tick + SWEEP_INTERVAL_MS - Date.now());
    const next = await runSweep();
    expect(next.unreachable).toEqual([{ src: 'n3', dst: 'n4' }]);
    const cutPair = async () => (await sweptPairs()).find((p) => p.src === 'n3' && p.dst === 'n4');
    await waitFor(
      'n3>n4 at connectivity 0 in Prometheus',
      async () => (await cutPair())?.connectivity === 0,
      {
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    const detectedSeconds = (Date.now() - cutAt) / 1000;
    console.info(
      `cut n3>n4 seen in Prometheus after ${detectedSeconds.toFixed(1)} s (sweep ${next.durationSeconds} s)`,
    );
    expect(detectedSeconds).toBeLessThan(90);
    expect(await cutPair()).toMatchObject({ received: 0, lossRatio: 1, rttMedianSeconds: null });
    const back = (await sweptPairs()).find((p) => p.src === 'n4' && p.dst === 'n3');
    expect(back?.connectivity).toBe(1);
    // The chart's example alert fires for the cut pair and no other.
    const rendered = await runProcess([
      await helmBinary(),
      ...['template', 'x', CHART, '--set', 'alerts.unreachablePairs.enabled=true'],
      ...['--show-only', 'templates/prometheusrule.yaml'],
    ]);
    const rule = (parse(rendered.stdout) as PrometheusRule).spec.groups[0]?.rules[0];
    const firing = await instantQuery(fixture.stack.prometheusUrl, rule?.expr ?? '');
    expect(firing.map((s) => `${s.metric.src}>${s.metric.dst}`)).toEqual(['n3>n4']);
  }, 120_000);
});
