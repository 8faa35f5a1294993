import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, get as httpGet } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
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

/**
 * Issue 14, "months unattended": peers that accept and never answer, and
 * request storms. The silent peer is a real TCP server that accepts and
 * holds every connection; the same address can be switched to forward to a
 * real s3rver or a real Prometheus, so one graph API sees its source hang
 * and then recover. The storm is real HTTP against a real server.
 */

/** A TCP address that either holds every connection without a byte (silent) or forwards it to `target`. */
interface Switch {
  url: string;
  mode: 'silent' | 'forward';
  /** Connections accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

async function startSwitch(target: { host: string; port: number } | null): Promise<Switch> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server: Server = createServer((socket) => {
    track(socket);
    sw.accepted += 1;
    if (sw.mode === 'silent' || target === null) return; // accepted, never answered
    const upstream = connect(target.port, target.host);
    track(upstream);
    upstream.on('close', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const sw: Switch = {
    url: `http://127.0.0.1:${port}`,
    mode: 'silent',
    accepted: 0,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return sw;
}

const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
const SOURCE_TIMEOUT_SECONDS = 1;

let dir: string;
let s3: LocalS3;
let prometheus: PrometheusStack;
const cleanups: Array<() => Promise<unknown>> = [];

async function started(options: GraphApiOptions): Promise<{ api: GraphApi; base: string }> {
  const api = await createGraphApi(options);
  cleanups.push(() => api.close(500));
  const { port } = await api.listen(0, '127.0.0.1');
  return { api, base: `http://127.0.0.1:${port}` };
}

async function startedSwitch(target: string | null): Promise<Switch> {
  const url = target === null ? null : new URL(target);
  const sw = await startSwitch(url === null ? null : { host: url.hostname, port: Number(url.port) });
  cleanups.push(() => sw.close());
  return sw;
}

/** The environment of a graph API in front of `sw`: every timeout short, every other setting its own. */
function envFor(source: 's3' | 'prometheus', sw: Switch): NodeJS.ProcessEnv {
  return {
    LOG_LEVEL: 'error',
    ...S3_CREDENTIALS,
    NETMON_S3_BUCKET: s3.bucket,
    NETMON_S3_ENDPOINT: source === 's3' ? sw.url : s3.endpoint,
    NETMON_PROMETHEUS_URL: source === 'prometheus' ? sw.url : prometheus.prometheusUrl,
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
  [s3, prometheus] = await Promise.all([startLocalS3(join(dir, 's3')), startPrometheusStack({ dir })]);
  const store = new ObjectStore(makeS3Client(s3Settings(s3.endpoint)), s3Settings(s3.endpoint));
  await store.putText(graphKey('latest', 'json'), toGraphJson(clusterMesh(40)), 'application/json');
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
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
    const sw = await startedSwitch(null);
    const store = new ObjectStore(makeS3Client(s3Settings(sw.url, 0.5)), s3Settings(sw.url, 0.5));
    const start = performance.now();
    const failure = await store.getBytes('graphs/latest/graph.json').catch((err: unknown) => err);
    const ms = performance.now() - start;
    expect(failure).toBeInstanceOf(StoreError);
    expect(String((failure as Error).message)).toMatch(/timeout/i);
    expect(sw.accepted).toBeGreaterThanOrEqual(1);
    // Three attempts of 0.5 s and the SDK's short backoff: seconds, not forever.
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(6000);
  });

  it('S3 source: 504 within the source timeout, /healthz 503 while it hangs, 200 and ok once a real S3 answers', async () => {
    const sw = await startedSwitch(s3.endpoint);
    const { base } = await started(graphApiFrom('/nonexistent', envFor('s3', sw)).options);

    const hung = await timedGet(`${base}/graph.json`);
    expect(hung.status, hung.body).toBe(504);
    expect(hung.body).toContain(`did not answer within ${SOURCE_TIMEOUT_SECONDS} s`);
    expect(hung.ms).toBeLessThan(SOURCE_TIMEOUT_SECONDS * 1000 + 1000);
    const failing = await health(base);
    expect(failing.status).toBe(503);
    expect(failing.body.status).toBe('source failing');
    expect(failing.body.sourceState.state).toBe('failing');
    expect(failing.ms).toBeLessThan(500);

    sw.mode = 'forward';
    // The hung read ends when the SDK gives up on it (1 s per attempt); the next one reaches s3rver.
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
    const sw = await startedSwitch(prometheus.prometheusUrl);
    const { base } = await started(graphApiFrom('/nonexistent', envFor('prometheus', sw)).options);

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

    sw.mode = 'forward';
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
