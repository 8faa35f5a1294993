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
import type { TestRecord } from '../../layers/domain/record.ts';
import { readArchiveFile } from '../../layers/flent/archive.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';
import { parseGraphJson } from '../../layers/graph/json.ts';
import { EDGE_COLORS } from '../../layers/graph/palette.ts';
import { pushRecord } from '../../layers/metrics/push.ts';
import { instantQuery, queryLatestPairs } from '../../layers/metrics/query.ts';
import { querySweepPairs, type SweepPairMetrics } from '../../layers/metrics/sweep.ts';
import { render } from '../../layers/pipeline/render.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import type { SweepReport } from '../../layers/pipeline/sweep.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { elementsNamed, parseXml, type XmlElement } from '../fixtures/graph/models.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe, startSweep } from '../helpers/probes.ts';
import { testRecord } from '../helpers/records.ts';

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

/** A successful tcp_upload of the pair that ended now, as the probe pushes it (a real archive's figures). */
async function passedTest(src: string, dst: string): Promise<TestRecord> {
  const archive = fileURLToPath(new URL('../fixtures/flent/tcp_upload.flent.gz', import.meta.url));
  const end = new Date();
  return testRecord({
    schedule: SCHEDULE,
    round: 'before-the-cut',
    src,
    dst,
    test: 'tcp_upload',
    runId: `${src}-${dst}-before-the-cut`,
    startTime: new Date(end.getTime() - 9_000).toISOString(),
    endTime: end.toISOString(),
    durationSeconds: 9,
    summary: summarizeArchive(await readArchiveFile(archive)),
    concurrency: 'serial',
  });
}

/** The edge groups of an SVG by their title ("src->dst"). */
function svgEdges(svg: string): Map<string, XmlElement> {
  const edges = elementsNamed(parseXml(svg), 'g').filter((g) => g.attrs.class?.split(' ').includes('edge'));
  return new Map(edges.map((g) => [g.children.find((c) => c.name === 'title')?.text ?? '', g]));
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

  it('a cut right after a sweep (the worst moment) is connectivity 0 in Prometheus and red in the next render within 90 s at a sweep a minute', async () => {
    const tick = Date.now();
    await runSweep();
    // The pair's last bandwidth test passed just before the cut: the render must trust the newer sweep over it.
    const before = await passedTest('n3', 'n4');
    await pushRecord(fixture.stack.pushgatewayUrl, before);
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
    // The test's figures are in Prometheus too (pushed a minute ago), still saying 1.
    const tested = (await queryLatestPairs(fixture.stack.prometheusUrl, { schedule: SCHEDULE })).find(
      (p) => p.src === 'n3' && p.dst === 'n4',
    );
    expect(tested).toMatchObject({ connectivity: 1, concurrency: 'serial', test: 'tcp_upload' });

    // The next render (the render CronJob's run), against the same Prometheus and S3.
    const store = storeFrom(env);
    const report = await render({
      store,
      prometheusUrl: fixture.stack.prometheusUrl,
      clusterName: 'sweep',
      maxAgeSeconds: 600,
      keep: 2,
    });
    const renderedSeconds = (Date.now() - cutAt) / 1000;
    console.info(
      `cut n3>n4 seen in Prometheus after ${detectedSeconds.toFixed(1)} s, red in the render after ${renderedSeconds.toFixed(1)} s (sweep ${next.durationSeconds} s)`,
    );
    expect(detectedSeconds).toBeLessThan(90);
    expect(renderedSeconds).toBeLessThanOrEqual(90);
    const read = async (key: string): Promise<string> =>
      Buffer.from((await store.getBytes(key)) ?? new Uint8Array()).toString();
    const model = parseGraphJson(await read(report.stored.latest.json));
    const edgeOf = (src: string, dst: string) => model.edges.find((e) => e.src === src && e.dst === dst);
    expect(model.edges).toHaveLength(56);
    expect(edgeOf('n3', 'n4')).toMatchObject({
      connectivity: 0,
      reason: 'unreachable',
      connectivitySource: 'sweep',
      concurrency: 'serial',
      lastTest: { connectivity: 1, testedAt: before.endTime },
      sweep: { connectivity: 0, received: 0, lossRatio: 1 },
      stale: false,
    });
    expect(Date.parse(edgeOf('n3', 'n4')?.connectivityAt ?? '')).toBeGreaterThan(Date.parse(before.endTime));
    // The test's throughput stays on the edge: the sweep decides connectivity only.
    expect(edgeOf('n3', 'n4')?.throughput?.mean).toBeGreaterThan(0);
    // Every other direction, swept only or tested too, reached its peer in the last sweep.
    const others = model.edges.filter((e) => !(e.src === 'n3' && e.dst === 'n4'));
    expect(others.filter((e) => e.connectivity !== 1 || e.connectivitySource !== 'sweep')).toEqual([]);
    const svg = svgEdges(await read(report.stored.latest.svg));
    expect(svg.size).toBe(56);
    const red = [...svg].filter(
      ([, g]) => elementsNamed([g], 'path')[0]?.attrs.stroke === EDGE_COLORS.failed,
    );
    expect(red.map(([title]) => title)).toEqual(['n3->n4']);
    expect(svg.get('n3->n4')?.attrs.class?.split(' ')).toContain('netmon-failed');
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
  }, 150_000);
});
