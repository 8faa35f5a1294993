import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ManagedProcess, type RunResult, waitFor } from '../../layers/core/process.ts';
import type { PlanOutcome } from '../../layers/domain/round.ts';
import { parseGraphJson, toGraphJson } from '../../layers/graph/index.ts';
import { createGraphApi } from '../../layers/graph-api/server.ts';
import { pushRecord } from '../../layers/metrics/push.ts';
import { instantQuery } from '../../layers/metrics/query.ts';
import type { RenderReport } from '../../layers/pipeline/render.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import { GRAPH_SET_FILES, GRAPHS_PREFIX, graphKey, graphSetPrefix } from '../../layers/store/keys.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { graphApiFrom } from '../../layers/wiring/graph-api.ts';
import { clusterMesh } from '../bench/graph.bench.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe, startRender } from '../helpers/probes.ts';
import { describeProcess, processMark } from '../helpers/process-mark.ts';
import { testRecord } from '../helpers/records.ts';
import { roundRecords } from '../helpers/rounds.ts';
import { startToxiproxy, type ToxicProxy, type Toxiproxy } from '../helpers/toxiproxy.ts';

/**
 * Issue 14, faults injected by a real proxy: Toxiproxy between the functions
 * and the real peers of the local stack (s3rver, local-aws-sqs, the
 * Pushgateway, Prometheus). Each scenario breaks one peer the way it breaks
 * in production (gone, slow, resetting) while plan, probe, render or the
 * graph API works through it, then mends it, and checks what an operator
 * looks at: one result per pair, no process left behind, the error that
 * says what failed, and the system catching up by itself.
 *
 * The two nodes are this host's loopback addresses: ping tests of 1 s keep a
 * round to seconds.
 */

const NODES = [
  { name: 'f1', address: '127.0.0.2', ready: true, labels: {} },
  { name: 'f2', address: '127.0.0.3', ready: true, labels: {} },
];
const PAIRS = ['f1>f2', 'f2>f1'];
/** Marks every process a function of this file starts, children included, for the leak check. */
const MARK = processMark('NETMON_FAULTS_RUN');
const SOURCE_TIMEOUT_SECONDS = 1;
/** Every reset is retried (the SDK's attempts, then the whole read), about 1.2 s: above that, a failure shows as one. */
const RESET_SOURCE_TIMEOUT_SECONDS = 5;

let fixture: StackFixture;
let store: ObjectStore;
let toxiproxy: Toxiproxy;
const proxies: Partial<Record<'pushgateway' | 'sqs' | 's3' | 'prometheus', ToxicProxy>> = {};
const cleanups: Array<() => Promise<unknown>> = [];
/** Every function started here: one still running when a test fails is stopped after the file. */
const started: ManagedProcess[] = [];

function track(proc: ManagedProcess): ManagedProcess {
  started.push(proc);
  return proc;
}

function proxy(name: keyof typeof proxies): ToxicProxy {
  const found = proxies[name];
  if (found === undefined) throw new Error(`no proxy for ${name}`);
  return found;
}

/** The functions' environment for one schedule of ping tests between the two loopback nodes. */
function envFor(schedule: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...fixture.env,
    NETMON_SCHEDULES: JSON.stringify([{ name: schedule, cron: '* * * * *', test: 'ping', lengthSeconds: 1 }]),
    // Ports nobody else on this host uses: the servers run in the host's own network namespace.
    NETMON_NETSERVER_PORT: String(21_000 + Math.floor(Math.random() * 2000)),
    NETMON_IRTT_PORT: String(23_000 + Math.floor(Math.random() * 2000)),
    ...MARK.env,
    ...overrides,
  };
}

function pairsOf(items: ReadonlyArray<{ src: string; dst: string }>): string[] {
  return items.map((item) => `${item.src}>${item.dst}`).sort();
}

function succeeded(what: string, result: RunResult): RunResult {
  expect(result.exitCode, `${what}: ${result.stderr}`).toBe(0);
  return result;
}

/** Processes of this file's functions still alive (flent, fping, irtt, netserver...): none, after each run. */
async function leftovers(): Promise<string[]> {
  return (await MARK.processes()).map(describeProcess);
}

async function text(key: string): Promise<string | undefined> {
  const bytes = await store.getBytes(key);
  return bytes === undefined ? undefined : Buffer.from(bytes).toString();
}

/** Every file of the latest graph set, as the graph API and users would read it now. */
async function latestSet(): Promise<Record<string, string | undefined>> {
  const files = Object.keys(GRAPH_SET_FILES) as Array<keyof typeof GRAPH_SET_FILES>;
  return Object.fromEntries(
    await Promise.all(files.map(async (file) => [file, await text(graphKey('latest', file))] as const)),
  );
}

interface Answer {
  status: number;
  body: string;
  ms: number;
}

async function timedGet(url: string): Promise<Answer> {
  const start = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  const body = await response.text();
  return { status: response.status, body, ms: performance.now() - start };
}

/** A graph API in this process over `env`'s source, every timeout short; closed after the file. */
async function startedGraphApi(
  env: NodeJS.ProcessEnv,
  sourceTimeoutSeconds = SOURCE_TIMEOUT_SECONDS,
): Promise<string> {
  const api = await createGraphApi(
    graphApiFrom('/nonexistent', {
      ...env,
      LOG_LEVEL: 'error',
      NETMON_GRAPH_API_REFRESH_SECONDS: '0',
      NETMON_GRAPH_API_ASSETS_DIR: join(fixture.dir, 'no-page'),
      NETMON_GRAPH_API_SOURCE_TIMEOUT_SECONDS: String(sourceTimeoutSeconds),
      NETMON_CONNECT_TIMEOUT_SECONDS: '1',
      NETMON_REQUEST_TIMEOUT_SECONDS: '1',
    }).options,
  );
  cleanups.push(() => api.close(500));
  const { port } = await api.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  [fixture, toxiproxy] = await Promise.all([
    startStackFixture({ visibilityTimeoutSeconds: 30 }),
    startToxiproxy(),
  ]);
  await fixture.writeNodes(NODES);
  store = storeFrom(fixture.env);
  const upstreams = {
    pushgateway: fixture.stack.pushgatewayUrl,
    sqs: fixture.env.NETMON_SQS_ENDPOINT,
    s3: fixture.env.NETMON_S3_ENDPOINT,
    prometheus: fixture.stack.prometheusUrl,
  };
  for (const [name, upstream] of Object.entries(upstreams)) {
    if (upstream === undefined) throw new Error(`the local stack has no ${name}`);
    proxies[name as keyof typeof proxies] = await toxiproxy.proxy(name, upstream);
  }
  // A cold build of toxiproxy takes minutes; a warm one, milliseconds.
}, 300_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  for (const proc of started) if (proc.running) await proc.stop();
  const pid = toxiproxy?.pid;
  await toxiproxy?.stop();
  await fixture?.stop();
  if (pid !== undefined)
    expect(await readFile(`/proc/${pid}/cmdline`).catch(() => undefined)).toBeUndefined();
}, 60_000);

describe('the Pushgateway down for a round', () => {
  it('stores every result once, leaves a marker per pair, and the next probe run catches the metrics up', async () => {
    const schedule = 'faults-push';
    const env = envFor(schedule, { NETMON_PUSHGATEWAY_URL: proxy('pushgateway').url });
    await proxy('pushgateway').down();
    let round: string;
    try {
      // plan reports the round to the gateway too: a refusal there must not stop it.
      const planned = succeeded('plan', await track(startPlan(env)).done);
      const [outcome] = JSON.parse(planned.stdout) as PlanOutcome[];
      expect(outcome).toMatchObject({ schedule, queued: 2 });
      round = outcome?.round as string;
      const probe = track(startProbe(env));
      // The mark reaches the test tools, so the leak check at the end would see one left behind.
      await waitFor(
        'a test server of the probe',
        async () => (await leftovers()).some((p) => /netserver|irtt/.test(p)),
        {
          timeoutMs: 30_000,
          intervalMs: 100,
        },
      );
      const probed = succeeded('probe', await probe.done);
      expect(JSON.parse(probed.stdout)).toMatchObject({ tests: 2 });
      // The refused pushes are in the probe's log, with why.
      expect(probed.stderr).toMatch(/metrics not pushed.*ECONNREFUSED|ECONNREFUSED.*metrics not pushed/);
    } finally {
      await proxy('pushgateway').up();
    }
    const records = await roundRecords(store, schedule, round);
    expect(pairsOf(records)).toEqual(PAIRS);
    expect(records.every((r) => r.connectivity === 1)).toBe(true);
    expect((await store.list(`metrics-pending/${schedule}/`)).length).toBe(2);
    expect(
      await instantQuery(
        fixture.stack.prometheusUrl,
        `netmon_test_timestamp_seconds{schedule="${schedule}"}`,
      ),
    ).toEqual([]);

    // Back: the next run, with nothing queued, pushes what the gateway missed.
    const again = succeeded('probe', await track(startProbe(env)).done);
    expect(JSON.parse(again.stdout)).toMatchObject({ tests: 0 });
    expect(await store.list(`metrics-pending/${schedule}/`)).toEqual([]);
    const query = `netmon_test_timestamp_seconds{schedule="${schedule}"}`;
    await waitFor(
      'Prometheus to scrape the caught-up pairs',
      async () => (await instantQuery(fixture.stack.prometheusUrl, query)).length === 2,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    for (const sample of await instantQuery(fixture.stack.prometheusUrl, query)) {
      const record = records.find((r) => r.src === sample.metric.src && r.dst === sample.metric.dst);
      expect(Number(sample.value[1]), `${sample.metric.src}>${sample.metric.dst}`).toBe(
        Date.parse(record?.endTime ?? '') / 1000,
      );
    }
    expect(await leftovers()).toEqual([]);
  }, 120_000);
});

describe('SQS down while plan runs', () => {
  it('plan stores the round, fails the schedule naming SQS; the next plan sends it at once; one result per pair', async () => {
    const schedule = 'faults-sqs';
    const env = envFor(schedule, { NETMON_SQS_ENDPOINT: proxy('sqs').url });
    await proxy('sqs').down();
    let failed: RunResult;
    try {
      failed = await track(startPlan(env)).done;
    } finally {
      await proxy('sqs').up();
    }
    // The CronJob's run fails, and says which schedule and why.
    expect(failed.exitCode, failed.stderr).toBe(1);
    expect(failed.stderr).toMatch(
      new RegExp(`^plan: 1 of 1 schedules not planned: ${schedule}: .*ECONNREFUSED`, 'm'),
    );
    // The manifest went to S3 before the send: the round is open, nothing of it was sent.
    const opened = await latestManifest(store, schedule);
    expect(opened?.closedAt).toBeNull();
    expect(pairsOf(opened?.pairs ?? [])).toEqual(PAIRS);

    // SQS back: the next plan (a minute later in a cluster) sends the same round at once.
    const planned = succeeded('plan', await track(startPlan(env)).done);
    const [outcome] = JSON.parse(planned.stdout) as PlanOutcome[];
    expect(outcome).toMatchObject({ schedule, round: opened?.round, queued: 2 });

    const probed = succeeded('probe', await track(startProbe(env)).done);
    expect(JSON.parse(probed.stdout)).toMatchObject({ tests: 2 });
    const records = await roundRecords(store, schedule, opened?.round ?? '');
    expect(pairsOf(records)).toEqual(PAIRS);
    const closed = await latestManifest(store, schedule);
    expect(closed?.round).toBe(opened?.round);
    expect(closed?.closedAt).not.toBeNull();
    expect(closed?.counts).toMatchObject({ total: 2, done: 2 });
    expect(await leftovers()).toEqual([]);
  }, 120_000);
});

describe('Prometheus slower than the graph API source timeout', () => {
  it('answers 504 within the timeout and /healthz 503 while slow; 200 with the figures once it is fast again', async () => {
    // A figure for the graph to show, pushed straight to the gateway and scraped.
    const endTime = new Date().toISOString();
    await pushRecord(
      fixture.stack.pushgatewayUrl,
      testRecord({ schedule: 'faults-graph', src: 'f1', dst: 'f2', test: 'ping', endTime }),
    );
    await waitFor(
      'Prometheus to scrape the pushed pair',
      async () =>
        (
          await instantQuery(
            fixture.stack.prometheusUrl,
            'netmon_test_timestamp_seconds{schedule="faults-graph"}',
          )
        ).length === 1,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const base = await startedGraphApi({
      ...envFor('faults-graph'),
      NETMON_GRAPH_API_SOURCE: 'prometheus',
      NETMON_PROMETHEUS_URL: proxy('prometheus').url,
    });

    // Every answer of Prometheus three times later than the graph API waits.
    await proxy('prometheus').latency(SOURCE_TIMEOUT_SECONDS * 3000);
    try {
      const slow = await timedGet(`${base}/graph.json`);
      expect(slow.status, slow.body).toBe(504);
      expect(slow.ms).toBeLessThan(SOURCE_TIMEOUT_SECONDS * 1000 + 1000);
      const health = await timedGet(`${base}/healthz`);
      expect(health.status, health.body).toBe(503);
      expect(JSON.parse(health.body)).toMatchObject({ status: 'source failing' });
    } finally {
      await proxy('prometheus').heal();
    }

    await waitFor(
      'the graph from the real Prometheus',
      async () => (await timedGet(`${base}/graph.json`)).status === 200,
      {
        timeoutMs: 15_000,
        intervalMs: 200,
      },
    );
    const graph = parseGraphJson((await timedGet(`${base}/graph.json`)).body);
    expect(pairsOf(graph.edges)).toContain('f1>f2');
    expect((await timedGet(`${base}/healthz`)).status).toBe(200);
  }, 60_000);
});

describe('S3 failing', () => {
  it('gone while render writes: render fails naming the object, graphs/latest keeps the previous set whole, the next render succeeds', async () => {
    const env = envFor('faults-render', { NETMON_S3_ENDPOINT: proxy('s3').url });
    const first = JSON.parse(succeeded('render', await track(startRender(env)).done).stdout) as RenderReport;
    const before = await latestSet();
    expect(Object.values(before).every((file) => file !== undefined)).toBe(true);
    const sets = new Set(await store.listPrefixes(GRAPHS_PREFIX));

    // Answers come late, so the run is caught part way through its files.
    await proxy('s3').latency(300);
    const render = track(startRender(env));
    let failed: RunResult;
    try {
      await waitFor(
        'render to write the first file of its timestamped set',
        async () => (await store.listPrefixes(GRAPHS_PREFIX)).some((prefix) => !sets.has(prefix)),
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      await proxy('s3').down();
      const downAt = performance.now();
      failed = await render.done;
      // Refused connections fail the run in moments (the SDK's retries), not after a timeout.
      expect(performance.now() - downAt).toBeLessThan(10_000);
    } finally {
      if (render.running) await render.stop();
      await proxy('s3').heal();
    }
    expect(failed.exitCode, failed.stderr).toBe(1);
    expect(failed.stderr).toMatch(
      new RegExp(
        `^render: put graphs/\\d{8}T\\d{6}\\.\\d{3}Z/\\S+ in bucket ${store.bucket}: .*ECONNREFUSED`,
        'm',
      ),
    );
    // The failed run wrote part of its timestamped set, nothing of latest.
    const partial = (await store.listPrefixes(GRAPHS_PREFIX)).filter((prefix) => !sets.has(prefix));
    expect(partial).toHaveLength(1);
    expect((await store.list(partial[0] as string)).length).toBeLessThan(Object.keys(GRAPH_SET_FILES).length);
    expect(await latestSet()).toEqual(before);

    const again = JSON.parse(succeeded('render', await track(startRender(env)).done).stdout) as RenderReport;
    expect(again.stored.timestamped.json).not.toBe(first.stored.timestamped.json);
    const after = await latestSet();
    for (const [file, key] of Object.entries(again.stored.timestamped)) {
      expect(after[file], file).toBe(await text(key));
    }
  }, 120_000);

  /** A graph API over S3 through a proxy that resets every connection: one read and /healthz, then S3 mended. */
  async function readThroughResets(): Promise<{ base: string; reset: Answer; health: Answer }> {
    await store.putText(graphKey('latest', 'json'), toGraphJson(clusterMesh(3)), 'application/json');
    const base = await startedGraphApi(
      { ...envFor('faults-s3-source'), NETMON_GRAPH_API_SOURCE: 's3', NETMON_S3_ENDPOINT: proxy('s3').url },
      RESET_SOURCE_TIMEOUT_SECONDS,
    );
    await proxy('s3').resetPeer('upstream', 0);
    try {
      const reset = await timedGet(`${base}/graph.json`);
      return { base, reset, health: await timedGet(`${base}/healthz`) };
    } finally {
      await proxy('s3').heal();
    }
  }

  it('resetting every connection under the graph API: a quick failure naming the object, /healthz 503; 200 once S3 answers', async () => {
    const { base, reset, health } = await readThroughResets();
    // The source answered (with resets): 502, not 504 "did not answer" (the SDK names a reset TimeoutError).
    expect(reset.status, reset.body).toBe(502);
    expect(JSON.parse(reset.body).error).toMatch(
      new RegExp(`^cannot read s3://${store.bucket}/${graphSetPrefix('latest')}graph.json: .*ECONNRESET`),
    );
    // Given up on after the retries, long before the source timeout: the reader is not kept waiting.
    expect(reset.ms).toBeLessThan(RESET_SOURCE_TIMEOUT_SECONDS * 1000);
    expect(health.status, health.body).toBe(503);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'source failing' });

    await waitFor(
      'the graph from the real S3',
      async () => (await timedGet(`${base}/graph.json`)).status === 200,
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    expect(parseGraphJson((await timedGet(`${base}/graph.json`)).body).nodes).toHaveLength(3);
    expect((await timedGet(`${base}/healthz`)).status).toBe(200);
  }, 60_000);
});
