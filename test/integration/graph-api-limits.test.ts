import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrometheusStack, startPrometheusStack } from '../../infra/local-stack/prometheus.ts';
import { type LocalS3, startLocalS3 } from '../../infra/local-stack/s3.ts';
import { waitFor } from '../../layers/core/process.ts';
import { toGraphJson } from '../../layers/graph/index.ts';
import { createGraphApi, type GraphApi, type GraphApiOptions } from '../../layers/graph-api/server.ts';
import { S3GraphSource } from '../../layers/graph-api/source.ts';
import { graphKey } from '../../layers/store/keys.ts';
import { makeS3Client, ObjectStore, type S3Settings, StoreError } from '../../layers/store/s3-store.ts';
import { graphApiFrom } from '../../layers/wiring/graph-api.ts';
import { clusterMesh } from '../bench/graph.bench.ts';
import { startToxiproxy, type ToxicProxy, type Toxiproxy } from '../helpers/toxiproxy.ts';

/**
 * Issue 14, "months unattended": peers that accept and never answer, and
 * request storms. The silent peer is Toxiproxy in front of a real s3rver or
 * a real Prometheus with a timeout toxic (connections accepted, nothing
 * passed, never closed); removing the toxic lets the same address through,
 * so one graph API sees its source hang and then recover. The storm is real
 * HTTP against a real server.
 */

const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
const SOURCE_TIMEOUT_SECONDS = 1;

let dir: string;
let s3: LocalS3;
let prometheus: PrometheusStack;
let toxiproxy: Toxiproxy;
const cleanups: Array<() => Promise<unknown>> = [];

async function started(options: GraphApiOptions): Promise<{ api: GraphApi; base: string }> {
  const api = await createGraphApi(options);
  cleanups.push(() => api.close(500));
  const { port } = await api.listen(0, '127.0.0.1');
  return { api, base: `http://127.0.0.1:${port}` };
}

/** A silent peer: a new proxy in front of `target` that accepts and never answers until `answer()`. */
interface Silent {
  proxy: ToxicProxy;
  answer(): Promise<void>;
}

let proxies = 0;
async function silentProxy(target: string): Promise<Silent> {
  proxies += 1;
  const proxy = await toxiproxy.proxy(`silent-${proxies}`, target);
  const toxic = await proxy.timeout('upstream', 0);
  return { proxy, answer: () => proxy.removeToxic(toxic) };
}

/** The environment of a graph API whose source is behind `silent`: every timeout short, every other setting its own. */
function envFor(source: 's3' | 'prometheus', silent: Silent): NodeJS.ProcessEnv {
  return {
    LOG_LEVEL: 'error',
    ...S3_CREDENTIALS,
    NETMON_S3_BUCKET: s3.bucket,
    NETMON_S3_ENDPOINT: source === 's3' ? silent.proxy.url : s3.endpoint,
    NETMON_PROMETHEUS_URL: source === 'prometheus' ? silent.proxy.url : prometheus.prometheusUrl,
    NETMON_GRAPH_API_SOURCE: source,
    NETMON_GRAPH_API_REFRESH_SECONDS: '0',
    NETMON_GRAPH_API_ASSETS_DIR: join(dir, 'no-page'),
    NETMON_GRAPH_API_SOURCE_TIMEOUT_SECONDS: String(SOURCE_TIMEOUT_SECONDS),
    NETMON_CONNECT_TIMEOUT_SECONDS: '1',
    NETMON_REQUEST_TIMEOUT_SECONDS: '1',
  };
}

/** A GET through `agent` (kept-alive connections), timed from the call to the end of the body. */
function agentGet(
  agent: Agent,
  url: string,
): Promise<{ status: number; body: string; ms: number; headers: Headers }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const request = httpGet(url, { agent, timeout: 15_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          if (typeof value === 'string') headers.set(name, value);
        }
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString(),
          ms: performance.now() - start,
          headers,
        });
      });
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url}`)));
    request.on('error', reject);
  });
}

async function timedGet(
  url: string,
): Promise<{ status: number; body: string; ms: number; headers: Headers }> {
  const start = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  const body = await response.text();
  return { status: response.status, body, ms: performance.now() - start, headers: response.headers };
}

interface Health {
  status: string;
  sourceState: { state: string; reason?: string; lastAnswer: { ok: boolean; at: string } | null };
  renders: { cacheBytes: number; cacheLimitBytes: number; refused: number };
}

async function health(base: string): Promise<{ status: number; body: Health; ms: number }> {
  const { status, body, ms } = await timedGet(`${base}/healthz`);
  return { status, body: JSON.parse(body) as Health, ms };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-limits-'));
  [s3, prometheus, toxiproxy] = await Promise.all([
    startLocalS3(join(dir, 's3')),
    startPrometheusStack({ dir }),
    startToxiproxy(),
  ]);
  const store = new ObjectStore(makeS3Client(s3Settings(s3.endpoint)), s3Settings(s3.endpoint));
  await store.putText(graphKey('latest', 'json'), toGraphJson(clusterMesh(40)), 'application/json');
  // A cold build of toxiproxy takes minutes; a warm one, milliseconds.
}, 300_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await toxiproxy?.stop();
  await prometheus?.stop();
  await s3?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function s3Settings(endpoint: string, timeoutSeconds?: number): S3Settings {
  return {
    NETMON_S3_BUCKET: 'netmon',
    NETMON_S3_ENDPOINT: endpoint,
    NETMON_S3_REGION: 'us-east-1',
    NETMON_S3_FORCE_PATH_STYLE: true,
    NETMON_S3_CHECKSUMS: 'WHEN_REQUIRED',
    ...S3_CREDENTIALS,
    ...(timeoutSeconds === undefined
      ? {}
      : { NETMON_CONNECT_TIMEOUT_SECONDS: timeoutSeconds, NETMON_REQUEST_TIMEOUT_SECONDS: timeoutSeconds }),
  };
}

describe('a peer that accepts and never answers', () => {
  it('the S3 client gives up within its timeouts (retries included) instead of hanging', async () => {
    const { proxy } = await silentProxy(s3.endpoint);
    const store = new ObjectStore(makeS3Client(s3Settings(proxy.url, 0.5)), s3Settings(proxy.url, 0.5));
    const start = performance.now();
    const failure = await store.getBytes('graphs/latest/graph.json').catch((err: unknown) => err);
    const ms = performance.now() - start;
    expect(failure).toBeInstanceOf(StoreError);
    expect(String((failure as Error).message)).toMatch(/timeout/i);
    // The request reached the peer's address (and went no further): silence, not a refusal.
    expect(await proxy.receivedBytes('upstream')).toBeGreaterThan(0);
    // Three attempts of 0.5 s and the SDK's short backoff: seconds, not forever.
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(6000);
  });

  it('S3 source: 504 within the source timeout, /healthz 503 while it hangs, 200 and ok once a real S3 answers', async () => {
    const silent = await silentProxy(s3.endpoint);
    const { base } = await started(graphApiFrom('/nonexistent', envFor('s3', silent)).options);

    const hung = await timedGet(`${base}/graph.json`);
    expect(hung.status, hung.body).toBe(504);
    expect(hung.body).toContain(`did not answer within ${SOURCE_TIMEOUT_SECONDS} s`);
    expect(hung.ms).toBeLessThan(SOURCE_TIMEOUT_SECONDS * 1000 + 1000);
    const failing = await health(base);
    expect(failing.status).toBe(503);
    expect(failing.body.status).toBe('source failing');
    expect(failing.body.sourceState.state).toBe('failing');
    expect(failing.ms).toBeLessThan(500);

    await silent.answer();
    // Toxiproxy closes the held connections as the toxic goes (or the SDK gives up on them, 1 s per
    // attempt); the next read reaches s3rver.
    await waitFor(
      'the graph from the real S3',
      async () => (await timedGet(`${base}/graph.json`)).status === 200,
      {
        timeoutMs: 15_000,
        intervalMs: 200,
      },
    );
    const ok = await health(base);
    expect(ok.status).toBe(200);
    expect(ok.body.sourceState.state).toBe('ok');
    expect(ok.body.sourceState.lastAnswer?.ok).toBe(true);
  });

  it('Prometheus source: 504 within the timeout, /healthz 503 without any graph request, ok once the real Prometheus answers', async () => {
    const silent = await silentProxy(prometheus.prometheusUrl);
    const { base } = await started(graphApiFrom('/nonexistent', envFor('prometheus', silent)).options);

    // /healthz alone asks the source (it has not been heard from) and reports the silence.
    expect((await health(base)).status).toBe(200);
    await waitFor(
      '/healthz to report the silent Prometheus',
      async () => (await health(base)).status === 503,
      {
        timeoutMs: 5000,
      },
    );
    const hung = await timedGet(`${base}/graph.svg?metric=loss`);
    expect(hung.status, hung.body).toBe(504);
    expect(hung.ms).toBeLessThan(SOURCE_TIMEOUT_SECONDS * 1000 + 1000);

    await silent.answer();
    // The real Prometheus holds no netmon figures: "no graph yet" (503), but the source answered.
    await waitFor(
      'an answer from the real Prometheus',
      async () => (await timedGet(`${base}/graph.json`)).status === 503,
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    const ok = await health(base);
    expect(ok.status).toBe(200);
    expect(ok.body.sourceState.state).toBe('ok');
  });
});

describe('a storm of distinct views', () => {
  const CACHE_BYTES = 150_000;

  async function stormApi(): Promise<{ api: GraphApi; base: string }> {
    const store = new ObjectStore(makeS3Client(s3Settings(s3.endpoint)), s3Settings(s3.endpoint));
    return started({
      // One read of graph.json for the whole storm: every request reaches the renderer at once.
      source: new S3GraphSource(store, 3600),
      assetsDir: join(dir, 'no-page'),
      pollSeconds: 15,
      title: 'storm',
      limits: { cacheBytes: CACHE_BYTES, maxRenders: 1, queue: 2 },
    });
  }

  it('beyond one render and two waiting: 503 with Retry-After at once, while /healthz answers quickly', async () => {
    const { api, base } = await stormApi();
    expect((await timedGet(`${base}/graph.json`)).status).toBe(200); // the model is read
    // Client and server share this event loop: connections opened first, every request of the storm
    // is on the wire before the server draws anything.
    const agent = new Agent({ keepAlive: true, maxSockets: 17 });
    cleanups.push(async () => agent.destroy());
    await Promise.all(Array.from({ length: 17 }, () => agentGet(agent, `${base}/livez`)));
    const storm = Array.from({ length: 16 }, (_, i) =>
      agentGet(agent, `${base}/graph.svg?maxAge=${100 + i}`),
    );
    const during = await agentGet(agent, `${base}/healthz`);
    const answers = await Promise.all(storm);
    const busy = answers.filter((a) => a.status === 503);
    const drawn = answers.filter((a) => a.status === 200);
    expect(drawn.length + busy.length).toBe(16);
    expect(drawn.length).toBeGreaterThanOrEqual(3);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    for (const refused of busy) {
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(refused.body).error).toMatch(/busy drawing other views.*try again in \d+ s/);
    }
    expect(during.status).toBe(200);
    expect(during.ms).toBeLessThan(1000);
    expect(api.renderStats().refused).toBe(busy.length);
  });

  it('the drawn views kept never exceed the cache bytes', async () => {
    const { api, base } = await stormApi();
    let most = 0;
    for (let i = 0; i < 12; i++) {
      const answer = await timedGet(`${base}/graph.svg?maxAge=${200 + i}`);
      expect(answer.status).toBe(200);
      most = Math.max(most, api.renderStats().cacheBytes);
    }
    const { body } = await health(base);
    expect(body.renders.cacheLimitBytes).toBe(CACHE_BYTES);
    expect(body.renders.cacheBytes).toBeLessThanOrEqual(CACHE_BYTES);
    expect(most).toBeLessThanOrEqual(CACHE_BYTES);
    // Twelve views of about 45 kB: some were let go.
    expect(api.renderStats().cacheEntries).toBeLessThan(12);
    expect(api.renderStats().cacheBytes).toBeGreaterThan(0);
  });
});
