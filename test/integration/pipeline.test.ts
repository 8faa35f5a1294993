import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { waitFor } from '../../layers/core/process.ts';
import type { TestRecord } from '../../layers/domain/record.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';
import { renderSvg } from '../../layers/graph/svg.ts';
import {
  checkGatewayMetrics,
  instantQuery,
  type PairMetrics,
  queryLatestPairs,
} from '../../layers/metrics/query.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { netmon } from '../helpers/cli.ts';
import { dashboardQueries, expandVariables, loadDashboard } from '../helpers/grafana.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe, startRender } from '../helpers/probes.ts';

/**
 * The main job end to end, each function as the process a CronJob would
 * start: real s3rver, local-aws-sqs, Pushgateway and Prometheus, Flent
 * between network namespaces.
 */
const VISIBILITY_SECONDS = 10;
const ALL_PAIRS = ['a>b', 'a>c', 'b>a', 'b>c', 'c>a', 'c>b'];

function pairsOf(records: readonly TestRecord[]): string[] {
  return records.map((r) => `${r.src}>${r.dst}`).sort();
}
let fixture: StackFixture;
let cluster: SimCluster;
let store: ObjectStore;

function envFor(schedule: string): NodeJS.ProcessEnv {
  return {
    ...fixture.env,
    NETMON_SCHEDULES: JSON.stringify([
      { name: schedule, cron: '* * * * *', test: 'tcp_upload', lengthSeconds: 2, delaySeconds: 1 },
    ]),
  };
}

async function writeNodes(names: readonly string[]): Promise<void> {
  await fixture.writeNodes(cluster.clusterNodes().filter((n) => names.includes(n.name)));
}

async function planRound(schedule: string): Promise<string> {
  const result = await startPlan(envFor(schedule)).done;
  expect(result.exitCode, result.stderr).toBe(0);
  const [outcome] = JSON.parse(result.stdout) as Array<{ action: string; round: string }>;
  expect(outcome?.action).toBe('opened');
  return outcome?.round as string;
}

async function results(schedule: string, round: string): Promise<TestRecord[]> {
  const keys = await store.list(`results/${schedule}/${round}/`);
  return Promise.all(
    keys.map(
      async (key) => JSON.parse(Buffer.from((await store.getBytes(key)) ?? []).toString()) as TestRecord,
    ),
  );
}

beforeAll(async () => {
  fixture = await startStackFixture({ visibilityTimeoutSeconds: VISIBILITY_SECONDS });
  store = storeFrom(fixture.env);
  cluster = await SimCluster.create({
    nodes: [
      { name: 'a', rateBitsPerSecond: 10e6, zone: 'z1' },
      { name: 'b', rateBitsPerSecond: 20e6, zone: 'z1' },
      { name: 'c', rateBitsPerSecond: 30e6, zone: 'z2' },
    ],
    cuts: [['a', 'c']],
  });
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
  await fixture?.stop();
});

describe('pipeline', () => {
  it('plan -> probe -> render: one result per pair, archives in S3, metrics in Prometheus, graphs that parse', async () => {
    await writeNodes(['a', 'b', 'c']);
    const round = await planRound('round');
    const probed = await startProbe(envFor('round')).done;
    expect(probed.exitCode, probed.stderr).toBe(0);

    const records = await results('round', round);
    expect(pairsOf(records)).toEqual(ALL_PAIRS);
    for (const record of records.filter((r) => r.connectivity === 1)) {
      const bytes = await store.getBytes(record.archiveKey ?? '');
      const summary = summarizeArchive(parseArchive(bytes ?? new Uint8Array(), record.archiveKey ?? ''));
      expect(summary.throughput.upload.total?.mean).toBeCloseTo(
        record.summary?.throughput.upload.total?.mean ?? 0,
        0,
      );
    }

    // Prometheus scrapes the gateway: every pair's figures come back through the query API.
    let pairs: PairMetrics[] = [];
    await waitFor(
      'every pair in Prometheus',
      async () => {
        pairs = await queryLatestPairs(fixture.stack.prometheusUrl, { schedule: 'round' });
        return pairs.length === 6;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    for (const record of records) {
      const pair = pairs.find((p) => p.src === record.src && p.dst === record.dst);
      expect(pair?.connectivity).toBe(record.connectivity);
      if (record.connectivity === 1) {
        const sent = record.summary?.throughput.upload.total?.mean ?? 0;
        expect(pair?.throughput.src_to_dst?.mean).toBeCloseTo(sent, -3);
        expect(pair?.latency.icmp?.median).toBeCloseTo(
          record.summary?.series['Ping (ms) ICMP']?.median ?? -1,
          9,
        );
      } else {
        expect(pair?.failureReason).toBe('unreachable');
      }
    }
    expect(await checkGatewayMetrics(fixture.stack.pushgatewayUrl)).toEqual([]);

    const rendered = await startRender({ ...envFor('round') }).done;
    expect(rendered.exitCode, rendered.stderr).toBe(0);
    const report = JSON.parse(rendered.stdout) as {
      edges: number;
      stored: { latest: Record<string, string> };
    };
    expect(report.edges).toBe(6);
    const read = async (format: string): Promise<string> =>
      Buffer.from((await store.getBytes(report.stored.latest[format] ?? '')) ?? []).toString();
    const parser = new XMLParser({ ignoreAttributes: false });
    const svg = parser.parse(await read('svg'));
    expect(svg.svg).toBeDefined();
    const graphml = parser.parse(await read('graphml'));
    expect(graphml.graphml.graph.edge).toHaveLength(6);
    const json = JSON.parse(await read('json')) as {
      version: number;
      edges: Array<{ src: string; dst: string; connectivity: number }>;
    };
    expect(json.version).toBe(1);
    expect(json.edges.find((e) => e.src === 'a' && e.dst === 'c')?.connectivity).toBe(0);
    // The DOT source renders again through Graphviz.
    expect(await renderSvg(await read('dot'))).toContain('<svg');
  }, 240_000);

  it('every PromQL expression of the Grafana dashboard returns series for the round just measured', async () => {
    const queries = dashboardQueries(await loadDashboard());
    expect(queries.length).toBeGreaterThan(5);
    for (const { panel, refId, expr } of queries) {
      const promql = expandVariables(expr, { schedule: 'round', max_age: '3600' });
      await waitFor(
        `${panel} (${refId}) to return series: ${promql}`,
        async () => (await instantQuery(fixture.stack.prometheusUrl, promql)).length > 0,
        { timeoutMs: 15_000, intervalMs: 500 },
      );
    }
  });

  it('netmon results: lists rounds, prints the round as a table and CSV, downloads an archive', async () => {
    const cli = (args: string[]) => netmon(args, 60_000, fixture.env);
    const schedules = await cli(['results', 'list']);
    expect(schedules.stdout.split('\n')).toContain('round');
    const rounds = await cli(['results', 'list', '--schedule', 'round']);
    expect(rounds.stdout).toMatch(/\d{8}T\d{6}\.\d{3}Z\s+tcp_upload .* 6\/6\s+1\s+0/);

    const csv = await cli(['results', 'table', '--schedule', 'round', '--csv']);
    expect(csv.exitCode, csv.stderr).toBe(0);
    const [header, ...rows] = csv.stdout.trim().split('\n');
    expect(header?.split(',')).toContain('upload_mean_bps');
    expect(rows).toHaveLength(6);
    const cut = rows.find((row) => row.includes(',a,c,'));
    expect(cut).toMatch(/,0,unreachable,/);

    const table = await cli(['results', 'table', '--schedule', 'round']);
    expect(table.stdout).toMatch(/a\s+b\s+tcp_upload\s+1\s+[\d.]+ ms/);

    const dir = await mkdtemp(join(tmpdir(), 'netmon-get-'));
    const target = join(dir, 'a-b.flent.gz');
    const got = await cli([
      'results',
      'get',
      '--schedule',
      'round',
      '--src',
      'a',
      '--dst',
      'b',
      '-o',
      target,
    ]);
    expect(got.exitCode, got.stderr).toBe(0);
    expect(parseArchive(await readFile(target)).metadata.NAME).toBe('tcp_upload');
    await rm(dir, { recursive: true, force: true });

    const unknown = await cli(['results', 'table', '--schedule', 'nope']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/--schedule: "nope" is not valid; expected one of .*round/);
    const failed = await cli(['results', 'get', '--schedule', 'round', '--src', 'a', '--dst', 'c']);
    expect(failed.exitCode).toBe(2);
    expect(failed.stderr).toContain('this test failed (unreachable)');
    const noPair = await cli(['results', 'get', '--schedule', 'round', '--src', 'a', '--dst', 'zz']);
    expect(noPair.stderr).toContain('a tested pair of round');
  }, 60_000);

  it('two probes at once on one queue never run two tests at the same time', async () => {
    await writeNodes(['a', 'b', 'c']);
    const round = await planRound('overlap');
    const probes = [startProbe(envFor('overlap')), startProbe(envFor('overlap'))];
    const done = await Promise.all(probes.map((p) => p.done));
    for (const result of done) expect(result.exitCode, result.stderr).toBe(0);
    const reports = done.map((r) => JSON.parse(r.stdout) as { tests: number });
    expect(reports.reduce((sum, r) => sum + r.tests, 0)).toBe(6);
    const records = await results('overlap', round);
    expect(pairsOf(records)).toEqual(ALL_PAIRS);
    const spans = records
      .map((r) => [Date.parse(r.startTime), Date.parse(r.endTime)] as const)
      .sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) {
      expect(spans[i]?.[0], 'a test started before the previous one ended').toBeGreaterThanOrEqual(
        spans[i - 1]?.[1] ?? 0,
      );
    }
    expect(records.find((r) => r.src === 'a' && r.dst === 'c')).toMatchObject({
      connectivity: 0,
      reason: 'unreachable',
    });
    const manifest = await latestManifest(store, 'overlap');
    expect(manifest?.closedAt).not.toBeNull();
    expect(manifest?.counts).toEqual({ total: 6, done: 5, failed: 1, skipped: 0 });
  }, 240_000);

  it('a probe killed mid-test: the message comes back, the pair is tested again, one result per pair', async () => {
    await writeNodes(['a', 'b']);
    const round = await planRound('crash');
    const first = startProbe(envFor('crash'));
    let killedRun: string | null = null;
    await waitFor(
      'the first test to be under way',
      async () => {
        const manifest = await latestManifest(store, 'crash');
        const running = manifest?.pairs.find((p) => p.state === 'queued' && p.startedAt !== null);
        killedRun = running?.runId ?? null;
        return killedRun !== null;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // Into the test, then gone without any chance to clean up.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    process.kill(first.pid as number, 'SIGKILL');
    await first.done;

    const second = await startProbe(envFor('crash')).done;
    expect(second.exitCode, second.stderr).toBe(0);
    const records = await results('crash', round);
    expect(pairsOf(records)).toEqual(['a>b', 'b>a']);
    const manifest = await latestManifest(store, 'crash');
    const retried = manifest?.pairs.find((p) => p.attempts === 2);
    expect(retried, JSON.stringify(manifest?.pairs)).toBeDefined();
    expect(retried?.runId).not.toBe(killedRun);
    expect(records.every((r) => r.connectivity === 1)).toBe(true);
    expect(manifest?.closedAt).not.toBeNull();
    // Each archive downloads and parses; the killed attempt left none.
    const archives = await store.list('archives/crash/');
    expect(archives).toHaveLength(2);
    for (const key of archives) {
      const summary = summarizeArchive(parseArchive((await store.getBytes(key)) ?? new Uint8Array(), key));
      expect(summary.throughput.upload.total?.mean).toBeGreaterThan(1e6);
    }
  }, 240_000);
});
