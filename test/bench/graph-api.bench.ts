/**
 * The graph API under a storm of distinct views (issue 14): 200 requests,
 * each a view of its own (every ?maxAge= and ?metric= is drawn apart), 20 at
 * a time, against the API as the Deployment runs it (its own process, S3
 * source on s3rver, a 100-node mesh). Prints the server's peak RSS against
 * its baseline, how many requests were refused (503 + Retry-After), and how
 * fast /healthz answered meanwhile. Settings are the defaults; BENCH_API_ENV
 * (a JSON object of NETMON_* variables) tries others, e.g.
 * '{"NETMON_GRAPH_API_MAX_RENDERS":"2"}'.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
const MAIN = fileURLToPath(new URL('../../functions/graph-api/main.ts', import.meta.url));
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
const METRICS = ['latency', 'throughput', 'loss'] as const;
/** As the chart's Deployment runs it (k8s/netmon/templates/graph-api.yaml, graphApi.heapMiB 256). */
const NODE_OPTIONS = '--max-semi-space-size=4 --max-old-space-size=256';

async function rssMb(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kb = status === undefined ? undefined : /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) / 1024;
}

function ms(values: number[], p: number): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${(percentileSorted(sorted, p) ?? Number.NaN).toFixed(0)} ms`;
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
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // The defaults of every bound: what an operator gets without tuning.
    server = startProcess([process.execPath, MAIN], {
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
    const atStart = (await rssMb(pid)) ?? Number.NaN;
    // One drawing loads Graphviz (WebAssembly): the baseline of a server that has served a graph.
    await (await fetch(`${base}/graph.svg`)).text();
    const baseline = (await rssMb(pid)) ?? Number.NaN;

    let peak = baseline;
    let storming = true;
    const sampler = (async () => {
      while (storming) {
        peak = Math.max(peak, (await rssMb(pid)) ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    const healthMs: number[] = [];
    const healthProbe = (async () => {
      while (storming) {
        const start = performance.now();
        await (await fetch(`${base}/healthz`)).text();
        healthMs.push(performance.now() - start);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const statuses = new Map<number, number>();
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
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
    const seconds = (performance.now() - started) / 1000;
    storming = false;
    await Promise.all([sampler, healthProbe]);
    const health = (await (await fetch(`${base}/healthz`)).json()) as {
      renders: { cacheBytes: number; cacheLimitBytes: number };
    };

    line(
      "the graph API's peak memory under 200 distinct requests (goal: under 200 MB)",
      `${peak.toFixed(0)} MB (${peak < GOAL_MB ? 'met' : 'MISSED'})`,
    );
    line('  its RSS at start / after one drawing', `${atStart.toFixed(0)} MB / ${baseline.toFixed(0)} MB`);
    line(
      `  ${REQUESTS} distinct views of a ${NODES}-node mesh, ${CONCURRENCY} at a time`,
      `${seconds.toFixed(1)} s; ${statuses.get(200) ?? 0} drawn, ${statuses.get(503) ?? 0} refused (503 + Retry-After)` +
        `${[...statuses.keys()].some((s) => s !== 200 && s !== 503) ? `, others ${JSON.stringify(Object.fromEntries(statuses))}` : ''}`,
    );
    line('  request latency p50 / p99', `${ms(latencies, 50)} / ${ms(latencies, 99)}`);
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
