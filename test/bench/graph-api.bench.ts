/**
 * The graph API under a storm of distinct views (issue 14): 200 requests,
 * each a view of its own (every ?maxAge= and ?metric= is drawn apart), 20 at
 * a time, against the API as the Deployment runs it (the bundle of
 * functions/graph-api in its own process, the chart's Node options, S3
 * source on s3rver, a 100-node mesh). Prints the server's peak RSS against
 * its baseline and the goal, how many requests were refused (503 +
 * Retry-After), the time to draw one view, and how fast /healthz answered
 * meanwhile. A measurement that broke (the server gone, no RSS samples, no
 * view drawn, an unexpected status) throws instead of printing a figure.
 * The bundle is built first (as `npm run build` builds it): run from source,
 * Node's type stripping alone adds ~30 MB that the Deployment does not
 * have. Settings are the defaults; BENCH_API_ENV
 * (a JSON object of NETMON_* variables) tries others, e.g.
 * '{"NETMON_GRAPH_API_MAX_RENDERS":"2"}'.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFunction } from '../../infra/build/bundle.ts';
import { freePort } from '../../infra/local-stack/prometheus.ts';
import { startLocalS3 } from '../../infra/local-stack/s3.ts';
import { startProcess, waitFor } from '../../layers/core/process.ts';
import { percentileSorted } from '../../layers/core/stats.ts';
import { toGraphJson } from '../../layers/graph/index.ts';
import { graphKey } from '../../layers/store/keys.ts';
import { makeS3Client, ObjectStore, type S3Settings } from '../../layers/store/s3-store.ts';
import { clusterMesh } from './graph.bench.ts';
import { line } from './report.ts';

const REQUESTS = 200;
const CONCURRENCY = 20;
const NODES = 100;
const GOAL_MB = 200;
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
const METRICS = ['latency', 'throughput', 'loss'] as const;
/** As the chart's Deployment runs it (k8s/netmon/templates/graph-api.yaml, graphApi.heapMiB 256). */
const NODE_OPTIONS = '--max-semi-space-size=4 --max-old-space-size=256';

async function rssMb(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kb = status === undefined ? undefined : /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) / 1024;
}

/** The figure broke, not the server's memory: stop the section with what went wrong. */
class BrokenMeasurement extends Error {
  override name = 'BrokenMeasurement';
}

async function rssNow(pid: number, when: string): Promise<number> {
  const mb = await rssMb(pid);
  if (mb === undefined)
    throw new BrokenMeasurement(`no RSS of the graph API (pid ${pid}) ${when}: has it exited?`);
  return mb;
}

function ms(values: number[], p: number): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${(percentileSorted(sorted, p) ?? Number.NaN).toFixed(0)} ms`;
}

/** Seconds per drawn view from the server's own histogram (netmon_graph_api_render_duration_seconds). */
function renderSeconds(metricsText: string): { count: number; mean: number } {
  const total = (suffix: 'sum' | 'count'): number =>
    [
      ...metricsText.matchAll(
        new RegExp(`^netmon_graph_api_render_duration_seconds_${suffix}\\{[^}]*\\} (\\S+)$`, 'gm'),
      ),
    ]
      .map((match) => Number(match[1]))
      .reduce((a, b) => a + b, 0);
  const count = total('count');
  return { count, mean: total('sum') / count };
}

export default async function graphApi(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'netmon-bench-api-'));
  const s3 = await startLocalS3(join(dir, 's3'));
  let server: ReturnType<typeof startProcess> | undefined;
  try {
    const settings: S3Settings = {
      NETMON_S3_BUCKET: s3.bucket,
      NETMON_S3_ENDPOINT: s3.endpoint,
      NETMON_S3_REGION: 'us-east-1',
      NETMON_S3_FORCE_PATH_STYLE: true,
      NETMON_S3_CHECKSUMS: 'WHEN_REQUIRED',
      ...CREDENTIALS,
    };
    const store = new ObjectStore(makeS3Client(settings), settings);
    await store.putText(graphKey('latest', 'json'), toGraphJson(clusterMesh(NODES)), 'application/json');
    const bundle = await bundleFunction('graph-api', join(dir, 'dist'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // The defaults of every bound: what an operator gets without tuning.
    server = startProcess([process.execPath, bundle.file], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_OPTIONS,
        LOG_LEVEL: 'error',
        ...CREDENTIALS,
        NETMON_S3_BUCKET: s3.bucket,
        NETMON_S3_ENDPOINT: s3.endpoint,
        NETMON_GRAPH_API_SOURCE: 's3',
        NETMON_GRAPH_API_PORT: String(port),
        NETMON_GRAPH_API_ADDRESS: '127.0.0.1',
        NETMON_GRAPH_API_ASSETS_DIR: join(dir, 'no-page'),
        ...(process.env.BENCH_API_ENV === undefined ? {} : JSON.parse(process.env.BENCH_API_ENV)),
      },
    });
    const pid = server.pid;
    if (pid === undefined) throw new Error('the graph API did not start');
    await waitFor(
      'the graph API to listen',
      async () => (await fetch(`${base}/livez`).catch(() => null))?.ok ?? false,
      {
        timeoutMs: 30_000,
      },
    );
    const atStart = await rssNow(pid, 'at start');
    // One drawing loads Graphviz (WebAssembly): the baseline of a server that has served a graph.
    const first = await fetch(`${base}/graph.svg`);
    if (!first.ok)
      throw new BrokenMeasurement(`the first /graph.svg answered ${first.status}: ${await first.text()}`);
    await first.text();
    const baseline = await rssNow(pid, 'after one drawing');

    let peak = baseline;
    let samples = 0;
    let storming = true;
    // The loops beside the storm record their failure and stop; it is thrown once the storm is over.
    let lost: unknown;
    const sampler = (async () => {
      while (storming) {
        peak = Math.max(peak, await rssNow(pid, 'during the storm'));
        samples += 1;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })().catch((err: unknown) => {
      lost ??= err;
    });
    const healthMs: number[] = [];
    const healthProbe = (async () => {
      while (storming) {
        const start = performance.now();
        await (await fetch(`${base}/healthz`)).text();
        healthMs.push(performance.now() - start);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })().catch((err: unknown) => {
      lost ??= new BrokenMeasurement(`/healthz stopped answering during the storm: ${String(err)}`);
    });

    const statuses = new Map<number, number>();
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    try {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < REQUESTS) {
            const i = next++;
            const path = `/graph.svg?maxAge=${600 + i}&metric=${METRICS[i % METRICS.length]}`;
            const start = performance.now();
            const response = await fetch(`${base}${path}`);
            await response.text();
            latencies.push(performance.now() - start);
            statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          }
        }),
      );
    } finally {
      storming = false;
      await Promise.all([sampler, healthProbe]);
    }
    const seconds = (performance.now() - started) / 1000;
    if (lost !== undefined) throw lost;
    const health = (await (await fetch(`${base}/healthz`)).json()) as {
      renders: { cacheBytes: number; cacheLimitBytes: number };
    };
    const renders = renderSeconds(await (await fetch(`${base}/metrics`)).text());

    const unexpected = [...statuses.keys()].filter((status) => status !== 200 && status !== 503);
    const broken = [
      ...(unexpected.length > 0
        ? [`statuses other than 200 and 503: ${JSON.stringify(Object.fromEntries(statuses))}`]
        : []),
      ...((statuses.get(200) ?? 0) === 0 ? ['no view of the storm was drawn'] : []),
      // A sample every 25 ms; a layout can hold the sampler's event loop, not for seconds.
      ...(samples < Math.min(10, seconds * 4) ? [`${samples} RSS samples in ${seconds.toFixed(1)} s`] : []),
      ...(healthMs.length < 3 ? [`${healthMs.length} /healthz probes answered`] : []),
      ...(!(renders.count > 0 && Number.isFinite(renders.mean)) ? ['no render time in /metrics'] : []),
    ];
    if (broken.length > 0) {
      throw new BrokenMeasurement(`the graph API bench measured nothing usable: ${broken.join('; ')}`);
    }

    line(
      "the graph API's peak memory under 200 distinct requests (goal: under 200 MB)",
      `${peak.toFixed(0)} MB, ${(peak / GOAL_MB).toFixed(2)} of the goal (${peak < GOAL_MB ? 'met' : 'MISSED'})`,
    );
    line('  its RSS at start / after one drawing', `${atStart.toFixed(0)} MB / ${baseline.toFixed(0)} MB`);
    line(
      '  the process',
      `node ${bundle.file.replace(dir, '$TMP')} (${(bundle.bytes / 1e6).toFixed(2)} MB), ${NODE_OPTIONS}`,
    );
    line(
      `  ${REQUESTS} distinct views of a ${NODES}-node mesh, ${CONCURRENCY} at a time`,
      `${seconds.toFixed(1)} s; ${statuses.get(200) ?? 0} drawn, ${statuses.get(503) ?? 0} refused (503 + Retry-After)` +
        `${[...statuses.keys()].some((s) => s !== 200 && s !== 503) ? `, others ${JSON.stringify(Object.fromEntries(statuses))}` : ''}`,
    );
    line('  request latency p50 / p99', `${ms(latencies, 50)} / ${ms(latencies, 99)}`);
    line(
      `  time to draw one view (${renders.count} drawn, server's histogram)`,
      `${(renders.mean * 1000).toFixed(0)} ms`,
    );
    line(
      `  /healthz during the storm p50 / p99 (${healthMs.length} probes)`,
      `${ms(healthMs, 50)} / ${ms(healthMs, 99)}`,
    );
    line(
      '  drawn views kept / bound',
      `${(health.renders.cacheBytes / 1e6).toFixed(1)} MB / ${(health.renders.cacheLimitBytes / 1e6).toFixed(1)} MB`,
    );
  } finally {
    await server?.stop();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
