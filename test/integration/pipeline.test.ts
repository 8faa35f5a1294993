import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { type RunResult, waitFor } from '../../layers/core/process.ts';
import type { TestRecord } from '../../layers/domain/record.ts';
import type { PlanOutcome, RoundManifest } from '../../layers/domain/round.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';
import { EDGE_COLORS, parseGraphJson } from '../../layers/graph/index.ts';
import { renderSvg } from '../../layers/graph/svg.ts';
import {
  checkGatewayMetrics,
  instantQuery,
  type PairMetrics,
  queryLatestPairs,
} from '../../layers/metrics/query.ts';
import type { RenderReport } from '../../layers/pipeline/render.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import { GRAPH_SET_FILES, type GraphSetFile } from '../../layers/store/keys.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { elementsNamed, parseXml, type XmlElement } from '../fixtures/graph/models.ts';
import { netmon } from '../helpers/cli.ts';
import { relativeDifference } from '../helpers/flent-stats.ts';
import { dashboardQueries, expandVariables, loadDashboard } from '../helpers/grafana.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe, startRender, startSweep } from '../helpers/probes.ts';
import { roundRecords } from '../helpers/rounds.ts';

/**
 * The main job end to end, each function as the process a CronJob would
 * start: real s3rver, local-aws-sqs, Pushgateway and Prometheus, Flent
 * between network namespaces.
 */
const VISIBILITY_SECONDS = 10;
const ALL_PAIRS = ['a>b', 'a>c', 'b>a', 'b>c', 'c>a', 'c>b'];
/** Each node's shaped egress rate, bit/s: tcp_upload data flows src -> dst, so a pair measures its src's rate. */
const RATES: Record<string, number> = { a: 10e6, b: 20e6, c: 30e6 };

function pairsOf(records: ReadonlyArray<{ src: string; dst: string }>): string[] {
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

function results(schedule: string, round: string): Promise<TestRecord[]> {
  return roundRecords(store, schedule, round);
}

beforeAll(async () => {
  fixture = await startStackFixture({ visibilityTimeoutSeconds: VISIBILITY_SECONDS });
  store = storeFrom(fixture.env);
  cluster = await SimCluster.create({
    nodes: [
      { name: 'a', rateBitsPerSecond: RATES.a as number, zone: 'z1' },
      { name: 'b', rateBitsPerSecond: RATES.b as number, zone: 'z1' },
      { name: 'c', rateBitsPerSecond: RATES.c as number, zone: 'z2' },
    ],
    cuts: [['a', 'c']],
  });
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
  await fixture?.stop();
});

describe('pipeline', () => {
  /**
   * One round, run once and shared (it takes minutes): plan, probe and render
   * each as the process its CronJob starts. The tests below read what the
   * round left in S3, the Pushgateway and Prometheus. The Grafana and
   * `netmon results` tests read the same round, so they live here too.
   */
  describe('one round: plan -> probe -> render on nodes a (10), b (20), c (30 Mbit/s), a->c cut', () => {
    const SCHEDULE = 'round';
    const CUT = { src: 'a', dst: 'c' };

    let planned: RunResult;
    /** The round's manifest as plan left it, before any probe ran. */
    let openedManifest: RoundManifest | undefined;
    let probed: RunResult;
    let records: TestRecord[];
    /** The round's manifest after the probe. */
    let closedManifest: RoundManifest | undefined;
    let rendered: RunResult;
    let report: RenderReport;

    const isCut = (p: { src: string; dst: string }): boolean => p.src === CUT.src && p.dst === CUT.dst;
    const recordOf = (src: string, dst: string): TestRecord => {
      const record = records.find((r) => r.src === src && r.dst === dst);
      if (record === undefined) throw new Error(`no record of ${src}->${dst}`);
      return record;
    };
    const text = async (key: string): Promise<string> => {
      const bytes = await store.getBytes(key);
      if (bytes === undefined) throw new Error(`${key} is not in S3`);
      return Buffer.from(bytes).toString();
    };
    const graphFile = (file: GraphSetFile): Promise<string> => text(report.stored.latest[file]);
    const svgGroups = async (kind: 'node' | 'edge' | 'cluster'): Promise<XmlElement[]> =>
      elementsNamed(parseXml(await graphFile('svg')), 'g').filter((g) =>
        g.attrs.class?.split(' ').includes(kind),
      );
    const titleOf = (group: XmlElement): string => group.children.find((c) => c.name === 'title')?.text ?? '';
    const shownText = (group: XmlElement): string =>
      elementsNamed([group], 'text')
        .map((t) => t.text)
        .join('\n');

    beforeAll(async () => {
      await writeNodes(['a', 'b', 'c']);
      const ran = (what: string, result: RunResult): RunResult => {
        if (result.exitCode !== 0) throw new Error(`${what} exited ${result.exitCode}: ${result.stderr}`);
        return result;
      };
      planned = ran('plan', await startPlan(envFor(SCHEDULE)).done);
      openedManifest = await latestManifest(store, SCHEDULE);
      probed = ran('probe', await startProbe(envFor(SCHEDULE)).done);
      // The sweep beside it: the dashboard's sweep matrix reads its figures.
      ran('sweep', await startSweep(envFor(SCHEDULE)).done);
      closedManifest = await latestManifest(store, SCHEDULE);
      records = await results(SCHEDULE, openedManifest?.round ?? '');
      // render reads Prometheus: wait until it has scraped every pair from the gateway.
      await waitFor(
        'every pair of the round in Prometheus',
        async () => {
          const pairs = await queryLatestPairs(fixture.stack.prometheusUrl, { schedule: SCHEDULE });
          return pairs.length === ALL_PAIRS.length && pairs.every((p) => p.connectivity !== null);
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      rendered = ran('render', await startRender({ ...envFor(SCHEDULE) }).done);
      report = JSON.parse(rendered.stdout) as RenderReport;
    }, 240_000);

    it('plan opens a round with every ordered pair of the Ready nodes, all queued', () => {
      expect(planned.exitCode, planned.stderr).toBe(0);
      const outcomes = JSON.parse(planned.stdout) as PlanOutcome[];
      expect(outcomes).toEqual([
        { schedule: SCHEDULE, action: 'opened', round: openedManifest?.round, queued: 6 },
      ]);
      expect(openedManifest).toMatchObject({
        schedule: SCHEDULE,
        test: 'tcp_upload',
        lengthSeconds: 2,
        delaySeconds: 1,
        closedAt: null,
        nodes: ['a', 'b', 'c'],
        counts: { total: 6, done: 0, failed: 0, skipped: 0 },
      });
      expect(pairsOf(openedManifest?.pairs ?? [])).toEqual(ALL_PAIRS);
      for (const pair of openedManifest?.pairs ?? []) {
        expect(pair, `${pair.src}->${pair.dst}`).toMatchObject({
          state: 'queued',
          startedAt: null,
          finishedAt: null,
          connectivity: null,
        });
      }
    });

    it('probe records exactly one result per ordered pair and closes the round', () => {
      expect(probed.exitCode, probed.stderr).toBe(0);
      expect((JSON.parse(probed.stdout) as { tests: number }).tests).toBe(6);
      expect(pairsOf(records)).toEqual(ALL_PAIRS);
      for (const record of records) {
        expect(record, `${record.src}->${record.dst}`).toMatchObject({
          version: 1,
          schedule: SCHEDULE,
          round: openedManifest?.round,
          test: 'tcp_upload',
        });
      }
      expect(closedManifest?.round).toBe(openedManifest?.round);
      expect(closedManifest?.closedAt).not.toBeNull();
      expect(closedManifest?.counts).toEqual({ total: 6, done: 5, failed: 1, skipped: 0 });
      for (const pair of closedManifest?.pairs ?? []) {
        const record = recordOf(pair.src, pair.dst);
        expect(pair, `${pair.src}->${pair.dst}`).toMatchObject({
          state: record.connectivity === 1 ? 'done' : 'failed',
          connectivity: record.connectivity,
          reason: record.reason,
          attempts: 1,
          runId: record.runId,
        });
      }
    });

    it('the cut pair a->c is connectivity 0, reason unreachable; every other pair is connectivity 1', () => {
      expect(recordOf(CUT.src, CUT.dst)).toMatchObject({
        connectivity: 0,
        reason: 'unreachable',
        summary: null,
      });
      for (const record of records.filter((r) => !isCut(r))) {
        expect(record, `${record.src}->${record.dst}`).toMatchObject({
          connectivity: 1,
          reason: null,
          exitCode: 0,
        });
        expect(record.summary).not.toBeNull();
      }
    });

    it("every success's archive downloads from S3 and parses to the figures of its record", async () => {
      const successes = records.filter((r) => r.connectivity === 1);
      expect(successes).toHaveLength(5);
      for (const record of successes) {
        expect(record.archiveKey, `${record.src}->${record.dst}`).toMatch(
          new RegExp(`^archives/${SCHEDULE}/`),
        );
        const bytes = await store.getBytes(record.archiveKey ?? '');
        expect(bytes, record.archiveKey ?? '').toBeDefined();
        const archive = parseArchive(bytes ?? new Uint8Array(), record.archiveKey ?? '');
        expect(archive.metadata.NAME).toBe('tcp_upload');
        const summary = summarizeArchive(archive);
        expect(summary.throughput.upload.total?.mean).toBeCloseTo(
          record.summary?.throughput.upload.total?.mean ?? 0,
          0,
        );
        // The record's figures are the archive's, every one (the record went through JSON).
        expect(JSON.parse(JSON.stringify(summary))).toEqual(record.summary);
      }
    });

    it("tcp_upload throughput of each uncut pair is within 10% of the src node's shaped rate", () => {
      for (const record of records.filter((r) => !isCut(r))) {
        const measured = record.summary?.throughput.upload.total?.mean ?? 0;
        const shaped = RATES[record.src] as number;
        const label = `${record.src}->${record.dst}: ${measured} vs ${shaped}`;
        expect(relativeDifference(measured, shaped), label).toBeLessThan(0.1);
      }
    });

    it("Prometheus returns each pair's connectivity, latency and throughput as recorded", async () => {
      // Prometheus scrapes the gateway: every pair's figures come back through the query API.
      let pairs: PairMetrics[] = [];
      await waitFor(
        'every pair in Prometheus',
        async () => {
          pairs = await queryLatestPairs(fixture.stack.prometheusUrl, { schedule: SCHEDULE });
          return pairs.length === 6;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(pairsOf(pairs)).toEqual(ALL_PAIRS);
      for (const record of records) {
        const what = `${record.src}->${record.dst}`;
        const pair = pairs.find((p) => p.src === record.src && p.dst === record.dst);
        expect(pair?.test, what).toBe('tcp_upload');
        expect(pair?.connectivity, what).toBe(record.connectivity);
        expect(pair?.testTimestampSeconds, what).toBeCloseTo(Date.parse(record.endTime) / 1000, 3);
        expect(pair?.durationSeconds, what).toBeCloseTo(record.durationSeconds, 6);
        if (record.connectivity === 1) {
          expect(pair?.failureReason, what).toBeNull();
          const sent = record.summary?.throughput.upload.total;
          expect(pair?.throughput.src_to_dst?.mean, what).toBeCloseTo(sent?.mean ?? 0, -3);
          expect(pair?.throughput.src_to_dst?.median, what).toBeCloseTo(sent?.median ?? 0, -3);
          expect(pair?.throughput.src_to_dst?.p99, what).toBeCloseTo(sent?.p99 ?? 0, -3);
          const ping = record.summary?.series['Ping (ms) ICMP'];
          expect(pair?.latency.icmp?.median, what).toBeCloseTo(ping?.median ?? -1, 9);
          for (const stat of ['min', 'mean', 'p99', 'max'] as const) {
            expect(pair?.latency.icmp?.[stat], `${what} latency ${stat}`).toBeCloseTo(ping?.[stat] ?? -1, 9);
          }
          expect(pair?.latency.icmp?.lossRatio, what).toBeCloseTo(ping?.lossRatio ?? -1, 9);
        } else {
          expect(pair?.failureReason, what).toBe('unreachable');
          expect(pair?.throughput.src_to_dst, what).toBeUndefined();
        }
      }
    });

    it('the metrics on the Pushgateway pass promtool check', async () => {
      expect(await checkGatewayMetrics(fixture.stack.pushgatewayUrl)).toEqual([]);
    });

    it('render stores every graph file, latest and timestamped, for 3 nodes and 6 fresh edges', async () => {
      expect(rendered.exitCode, rendered.stderr).toBe(0);
      expect(report).toMatchObject({ nodes: 3, edges: 6, staleEdges: 0 });
      expect(report.stored.pruned).toEqual([]);
      const files = Object.keys(GRAPH_SET_FILES).sort();
      expect(Object.keys(report.stored.latest).sort()).toEqual(files);
      expect(Object.keys(report.stored.timestamped).sort()).toEqual(files);
      for (const file of files as GraphSetFile[]) {
        expect(report.stored.latest[file]).toBe(`graphs/latest/${GRAPH_SET_FILES[file].name}`);
        const latest = await text(report.stored.latest[file]);
        expect(latest.length, file).toBeGreaterThan(100);
        // The timestamped copy is the same rendering.
        expect(await text(report.stored.timestamped[file]), file).toBe(latest);
      }
      for (const matrix of ['matrix-latency', 'matrix-throughput', 'matrix-loss'] as const) {
        expect(XMLValidator.validate(await graphFile(matrix)), matrix).toBe(true);
      }
    });

    it('the SVG parses as XML and draws one edge per ordered pair', async () => {
      const svg = await graphFile('svg');
      expect(XMLValidator.validate(svg)).toBe(true);
      const parser = new XMLParser({ ignoreAttributes: false });
      expect(parser.parse(svg).svg).toBeDefined();
      const edges = await svgGroups('edge');
      expect(edges.map((e) => titleOf(e).replace('->', '>')).sort()).toEqual(ALL_PAIRS);
    });

    it('the SVG draws the cut edge a->c dashed red, labelled with its reason, and no other edge so', async () => {
      const edges = await svgGroups('edge');
      expect(edges).toHaveLength(6);
      const dashedRed = edges.filter((edge) => {
        const line = elementsNamed([edge], 'path')[0]?.attrs ?? {};
        return line.stroke === EDGE_COLORS.failed || line['stroke-dasharray'] !== undefined;
      });
      expect(dashedRed.map(titleOf)).toEqual([`${CUT.src}->${CUT.dst}`]);
      for (const edge of edges) {
        const title = titleOf(edge);
        const line = elementsNamed([edge], 'path')[0]?.attrs ?? {};
        const classes = edge.attrs.class?.split(' ') ?? [];
        if (title === `${CUT.src}->${CUT.dst}`) {
          expect(classes, title).toContain('netmon-failed');
          expect(line.stroke, title).toBe(EDGE_COLORS.failed);
          expect(line['stroke-dasharray'], title).toBe('5,2');
          expect(shownText(edge), title).toBe('unreachable');
        } else {
          expect(classes, title).toContain('netmon-ok');
          expect(line.stroke, title).not.toBe(EDGE_COLORS.failed);
          expect(line['stroke-dasharray'], title).toBeUndefined();
        }
      }
    });

    it('the SVG shows every node by name, with its address and zone', async () => {
      const nodes = await svgGroups('node');
      expect(nodes.map(titleOf).sort()).toEqual(['a', 'b', 'c']);
      // Small graphs are one ring, zone after zone: each box names its zone (boxes would overlap).
      const zones: Record<string, string> = { a: 'z1', b: 'z1', c: 'z2' };
      for (const node of nodes) {
        const [name, address, zone] = shownText(node).split('\n');
        expect(name).toBe(titleOf(node));
        expect(address).toBe(cluster.node(titleOf(node)).address);
        expect(zone).toBe(zones[titleOf(node)]);
      }
    });

    it('graph.json holds every pair, the cut edge with connectivity 0', async () => {
      const text = await graphFile('json');
      const json = JSON.parse(text) as {
        version: number;
        edges: Array<{ src: string; dst: string; connectivity: number }>;
      };
      expect(json.version).toBe(1);
      expect(json.edges.find((e) => e.src === 'a' && e.dst === 'c')?.connectivity).toBe(0);
      const model = parseGraphJson(text);
      expect(model.nodes.map((n) => n.name)).toEqual(['a', 'b', 'c']);
      expect(pairsOf(model.edges)).toEqual(ALL_PAIRS);
      for (const edge of model.edges) {
        const record = recordOf(edge.src, edge.dst);
        expect(edge, `${edge.src}->${edge.dst}`).toMatchObject({
          connectivity: record.connectivity,
          reason: record.reason,
          stale: false,
        });
      }
    });

    it('the DOT renders again through Graphviz to the same edges', async () => {
      const again = await renderSvg(await graphFile('dot'));
      expect(again).toContain('<svg');
      const titles = elementsNamed(parseXml(again), 'g')
        .filter((g) => g.attrs.class?.split(' ').includes('edge'))
        .map((g) => titleOf(g).replace('->', '>'))
        .sort();
      expect(titles).toEqual(ALL_PAIRS);
    });

    it('the GraphML parses with the 3 nodes and one directed edge per ordered pair', async () => {
      const graphml = new XMLParser({ ignoreAttributes: false }).parse(await graphFile('graphml'));
      expect(graphml.graphml.graph.edge).toHaveLength(6);
      const doc = parseXml(await graphFile('graphml'));
      expect(elementsNamed(doc, 'graph')[0]?.attrs.edgedefault).toBe('directed');
      expect(
        elementsNamed(doc, 'node')
          .map((n) => n.attrs.id)
          .sort(),
      ).toEqual(['a', 'b', 'c']);
      expect(
        elementsNamed(doc, 'edge')
          .map((e) => `${e.attrs.source}>${e.attrs.target}`)
          .sort(),
      ).toEqual(ALL_PAIRS);
    });

    it('every PromQL expression of the Grafana dashboard returns series for the round just measured', async () => {
      const queries = dashboardQueries(await loadDashboard());
      expect(queries.length).toBeGreaterThan(5);
      for (const { panel, refId, expr } of queries) {
        const promql = expandVariables(expr, { schedule: 'round', max_age: '3600' });
        // No test of this round broke: the not-measured panel is empty, but Prometheus must take its query.
        if (panel.startsWith('Not measured')) {
          expect(await instantQuery(fixture.stack.prometheusUrl, promql), panel).toEqual([]);
          continue;
        }
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
  });

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

  it('the Pushgateway away for a round, then back: the next probe pushes what it missed; a failure carries the last success without reading the gateway', async () => {
    await writeNodes(['a', 'b', 'c']);
    // A real closed port: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const away = { ...envFor('away'), NETMON_PUSHGATEWAY_URL: `http://127.0.0.1:${port}` };
    const round = await planRound('away');
    const first = await startProbe(away).done;
    expect(first.exitCode, first.stderr).toBe(0);
    const records = await results('away', round);
    expect(pairsOf(records)).toEqual(ALL_PAIRS);
    expect((await store.list('metrics-pending/away/')).length).toBe(6);
    // Back: the next run (with nothing queued) pushes the six results.
    const second = await startProbe(envFor('away')).done;
    expect(second.exitCode, second.stderr).toBe(0);
    expect(await store.list('metrics-pending/away/')).toEqual([]);
    const query = 'netmon_test_timestamp_seconds{schedule="away"}';
    await waitFor(
      'Prometheus to scrape the caught-up pairs',
      async () => (await instantQuery(fixture.stack.prometheusUrl, query)).length === 6,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    for (const sample of await instantQuery(fixture.stack.prometheusUrl, query)) {
      const record = records.find((r) => r.src === sample.metric.src && r.dst === sample.metric.dst);
      expect(Number(sample.value[1]), `${sample.metric.src}>${sample.metric.dst}`).toBe(
        Date.parse(record?.endTime ?? '') / 1000,
      );
    }
    // The cut pair failed with no success before: never. The pair's state now holds that, so the
    // next failure needs no read of the gateway's groups.
    const cut = records.find((r) => r.src === 'a' && r.dst === 'c');
    expect(cut).toMatchObject({ connectivity: 0 });
    const state = JSON.parse(Buffer.from((await store.getBytes('pairs/away/a/c.json')) ?? []).toString());
    expect(state).toEqual({ lastSuccessTime: null, resultKey: `results/away/${round}/a/c.json` });
    const good = JSON.parse(Buffer.from((await store.getBytes('pairs/away/a/b.json')) ?? []).toString());
    expect(good.lastSuccessTime).toBe(records.find((r) => r.src === 'a' && r.dst === 'b')?.endTime);
  }, 240_000);
});
