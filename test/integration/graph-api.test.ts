import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGraphPageAssets } from '../../functions/graph-api/assets.ts';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { formatBitsPerSecond, formatSeconds } from '../../layers/core/format.ts';
import { startProcess, waitFor } from '../../layers/core/process.ts';
import type { GraphModel } from '../../layers/graph/model.ts';
import { httpApiHandler } from '../../layers/graph-api/lambda.ts';
import { createGraphApi, type GraphApi } from '../../layers/graph-api/server.ts';
import { checkExposition, type PairMetrics, queryLatestPairs } from '../../layers/metrics/query.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { graphApiFrom } from '../../layers/wiring/graph-api.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe, startRender } from '../helpers/probes.ts';

/**
 * The graph API against a real stack: a measured round (Flent between
 * network namespaces) in Prometheus and, once render has run, in s3rver. One
 * server reads S3, one Prometheus; the bundle itself runs as the Deployment
 * runs it for the shutdown test.
 */
const SCHEDULE = 'graph-api';
const NODES = ['a', 'b', 'c'];
const GRAPH_API = fileURLToPath(new URL('../../dist/graph-api.js', import.meta.url));

let fixture: StackFixture;
let cluster: SimCluster;
let store: ObjectStore;
let assetsDir: string;
let pairs: PairMetrics[] = [];
const apis: GraphApi[] = [];
let s3Base: string;
let promBase: string;

function envFor(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...fixture.env,
    NETMON_SCHEDULES: JSON.stringify([
      { name: SCHEDULE, cron: '* * * * *', test: 'tcp_upload', lengthSeconds: 2, delaySeconds: 1 },
    ]),
    NETMON_GRAPH_API_REFRESH_SECONDS: '0',
    NETMON_GRAPH_API_ASSETS_DIR: assetsDir,
    ...extra,
  };
}

async function startApi(source: 's3' | 'prometheus'): Promise<string> {
  const settings = graphApiFrom('/nonexistent', envFor({ NETMON_GRAPH_API_SOURCE: source }));
  const api = await createGraphApi(settings.options);
  apis.push(api);
  const { port } = await api.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${port}`;
}

async function get(url: string, init: RequestInit = {}): Promise<{ response: Response; text: string }> {
  const response = await fetch(url, init);
  return { response, text: await response.text() };
}

/** A file of render's latest set in S3: graph.svg, matrix-loss.svg ... */
async function stored(name: string): Promise<string> {
  return Buffer.from((await store.getBytes(`graphs/latest/${name}`)) ?? []).toString();
}

/** Node titles of a Graphviz SVG: one <g class="node"> per node. */
function svgNodes(svg: string): string[] {
  return [...svg.matchAll(/<g id="[^"]*" class="node\b[^"]*">\s*<title>([^<]*)<\/title>/g)].map(
    (m) => m[1] ?? '',
  );
}

function svgEdgeCount(svg: string): number {
  return [...svg.matchAll(/<g id="[^"]*" class="edge\b/g)].length;
}

/** The relabelling statements metricDot appends: `"a" -> "b" [label="..."];`. */
function relabels(dot: string): Map<string, string> {
  return new Map(
    [...dot.matchAll(/^ {2}"([^"]+)" -> "([^"]+)" \[label="([^"]*)"\];$/gm)].map((m) => [
      `${m[1]}->${m[2]}`,
      m[3] ?? '',
    ]),
  );
}

async function render(): Promise<void> {
  const rendered = await startRender(envFor()).done;
  expect(rendered.exitCode, rendered.stderr).toBe(0);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  fixture = await startStackFixture();
  store = storeFrom(fixture.env);
  assetsDir = await mkdtemp(join(tmpdir(), 'netmon-page-'));
  await buildGraphPageAssets(assetsDir);
  cluster = await SimCluster.create({
    nodes: [
      { name: 'a', rateBitsPerSecond: 10e6, zone: 'z1' },
      { name: 'b', rateBitsPerSecond: 20e6, zone: 'z1' },
      { name: 'c', rateBitsPerSecond: 30e6, zone: 'z2' },
    ],
    cuts: [['a', 'c']],
  });
  await fixture.writeNodes(cluster.clusterNodes());
  const planned = await startPlan(envFor()).done;
  expect(planned.exitCode, planned.stderr).toBe(0);
  const probed = await startProbe(envFor()).done;
  expect(probed.exitCode, probed.stderr).toBe(0);
  await waitFor(
    'every pair of the round in Prometheus',
    async () => {
      pairs = await queryLatestPairs(fixture.stack.prometheusUrl, { schedule: SCHEDULE });
      return pairs.length === 6;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  s3Base = await startApi('s3');
  promBase = await startApi('prometheus');
}, 240_000);

afterAll(async () => {
  for (const api of apis) await api.close(1000);
  await cluster?.destroy();
  await fixture?.stop();
  if (assetsDir !== undefined) await rm(assetsDir, { recursive: true, force: true });
});

describe('graph API', () => {
  it('S3 source: 503 naming the bucket until render has written a graph, then the graph', async () => {
    const before = await get(`${s3Base}/graph.svg`);
    expect(before.response.status).toBe(503);
    expect(before.response.headers.get('retry-after')).toBe('60');
    expect(JSON.parse(before.text).error).toContain('no graph in s3://netmon/graphs/latest/ yet');
    await render();
    expect((await get(`${s3Base}/graph.svg`)).response.status).toBe(200);
  }, 60_000);

  it('serves the latest S3 set byte for byte, each format with its content type; the SVG has one node per cluster node', async () => {
    const types = {
      svg: 'image/svg+xml',
      dot: 'text/vnd.graphviz; charset=utf-8',
      graphml: 'application/graphml+xml',
      json: 'application/json',
    };
    for (const [format, type] of Object.entries(types)) {
      const { response, text } = await get(`${s3Base}/graph.${format}`);
      expect(response.status, format).toBe(200);
      expect(response.headers.get('content-type'), format).toBe(type);
      expect(text, format).toBe(await stored(`graph.${format}`));
    }
    const svg = (await get(`${s3Base}/graph.svg`)).text;
    expect(svgNodes(svg).sort()).toEqual(NODES);
    expect(svgEdgeCount(svg)).toBe(6);
  });

  it('ETag and If-None-Match: 304 without a body, HEAD without a body, a new render changes the ETag', async () => {
    const first = await get(`${s3Base}/graph.svg`);
    const etag = first.response.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[\w-]+"$/);
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const again = await get(`${s3Base}/graph.svg`, { headers: { 'If-None-Match': ifNoneMatch } });
      expect(again.response.status, ifNoneMatch).toBe(304);
      expect(again.text).toBe('');
      expect(again.response.headers.get('etag')).toBe(etag);
    }
    expect(
      (await get(`${s3Base}/graph.svg`, { headers: { 'If-None-Match': '"other"' } })).response.status,
    ).toBe(200);
    const head = await get(`${s3Base}/graph.svg`, { method: 'HEAD' });
    expect(head.response.status).toBe(200);
    expect(head.response.headers.get('content-length')).toBe(String(Buffer.byteLength(first.text)));
    expect(head.text).toBe('');

    await render();
    const renewed = await get(`${s3Base}/graph.svg`, { headers: { 'If-None-Match': etag } });
    expect(renewed.response.status).toBe(200);
    expect(renewed.response.headers.get('etag')).not.toBe(etag);
    expect(renewed.text).toBe(await stored('graph.svg'));
  }, 60_000);

  it('?metric= labels the working edges with that figure; failed edges keep their reason', async () => {
    const model = JSON.parse((await get(`${s3Base}/graph.json`)).text) as GraphModel;
    const expected = {
      latency: (e: GraphModel['edges'][number]) => formatSeconds(e.latency?.median),
      throughput: (e: GraphModel['edges'][number]) => formatBitsPerSecond(e.throughput?.mean),
    };
    const etags = new Set<string>();
    for (const [metric, label] of Object.entries(expected)) {
      const { response, text } = await get(`${s3Base}/graph.dot?metric=${metric}`);
      expect(response.status).toBe(200);
      etags.add(response.headers.get('etag') ?? '');
      expect(text.startsWith('strict digraph')).toBe(true);
      const labels = relabels(text);
      const working = model.edges.filter((e) => e.connectivity === 1 && !e.stale);
      expect(working).toHaveLength(5);
      expect([...labels.keys()].sort()).toEqual(working.map((e) => `${e.src}->${e.dst}`).sort());
      for (const edge of working) expect(labels.get(`${edge.src}->${edge.dst}`), metric).toBe(label(edge));
      // The same labels come out of Graphviz.
      const svg = (await get(`${s3Base}/graph.svg?metric=${metric}`)).text;
      expect(svgNodes(svg).sort()).toEqual(NODES);
      for (const text of labels.values()) expect(svg).toContain(`>${text}</text>`);
      expect(svg).toContain('>unreachable</text>');
    }
    expect(etags.size).toBe(2);
    const throughput = relabels((await get(`${s3Base}/graph.dot?metric=throughput`)).text);
    expect([...throughput.values()].every((label) => / Mbit\/s$/.test(label))).toBe(true);
  });

  it('?maxAge= judges staleness anew against the same measurement times', async () => {
    const model = JSON.parse((await get(`${s3Base}/graph.json?maxAge=10`)).text) as GraphModel;
    expect(model.maxAgeSeconds).toBe(10);
    // The round took longer than 10 s: its first pairs are older than that when render ran.
    expect(model.edges.filter((e) => e.stale).length).toBeGreaterThan(0);
    for (const edge of model.edges) expect(edge.stale).toBe(edge.ageSeconds === null || edge.ageSeconds > 10);
    const lenient = JSON.parse((await get(`${s3Base}/graph.json?maxAge=31536000`)).text) as GraphModel;
    expect(lenient.edges.filter((e) => e.stale)).toEqual([]);
    const dot = (await get(`${s3Base}/graph.dot?maxAge=10`)).text;
    expect([...dot.matchAll(/netmon-stale/g)].length).toBe(model.edges.filter((e) => e.stale).length);
  });

  it('/matrix.svg: the matrix render stored for each metric, drawn anew for another maxAge or from Prometheus', async () => {
    for (const metric of ['latency', 'throughput', 'loss']) {
      const { response, text } = await get(`${s3Base}/matrix.svg?metric=${metric}`);
      expect(response.status, text).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/svg+xml');
      expect(text).toBe(await stored(`matrix-${metric}.svg`));
      const drawn = (await get(`${promBase}/matrix.svg?metric=${metric}`)).text;
      for (const svg of [text, drawn]) {
        expect(svg).toContain(`netmon-matrix-${metric}`);
        for (const node of NODES) expect(svg).toContain(`>${node}</text>`);
      }
    }
    expect((await get(`${s3Base}/matrix.svg`)).text).toBe(await stored('matrix-latency.svg'));
    const strict = await get(`${s3Base}/matrix.svg?metric=loss&maxAge=10`);
    expect(strict.response.status).toBe(200);
    expect(strict.text).toContain('netmon-matrix-loss');
    expect(strict.text).not.toBe(await stored('matrix-loss.svg'));
  });

  it('400 names the parameter, the value and the valid ones', async () => {
    const cases: Array<[string, string, string[]]> = [
      ['/graph.svg?metric=speed', 'metric', ['"speed"', 'latency, throughput, loss']],
      ['/graph.dot?foo=1', 'query parameter "foo"', ['"1"', 'metric, maxAge']],
      ['/graph.json?maxAge=5', 'maxAge', ['"5"', 'from 10 to 31536000']],
      ['/graph.json?maxAge=1h', 'maxAge', ['"1h"', 'whole seconds']],
      ['/matrix.svg?metric=latency&metric=loss', 'metric', ['"loss"', 'one value']],
      ['/healthz?verbose=1', 'query parameter "verbose"', ['/healthz takes none']],
      ['/?metric=jitter', 'metric', ['"jitter"', 'latency, throughput, loss']],
    ];
    for (const [path, parameter, mentions] of cases) {
      const { response, text } = await get(`${s3Base}${path}`);
      expect(response.status, path).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/json');
      const body = JSON.parse(text) as { error: string; parameter: string };
      expect(body.parameter, path).toBe(parameter);
      for (const mention of mentions) expect(body.error, path).toContain(mention);
    }
  });

  it('read-only: 405 with Allow for every other method; 404 lists the paths', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const { response, text } = await get(`${s3Base}/graph.svg`, { method });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, HEAD');
      expect(JSON.parse(text).error).toContain(`${method} is not allowed on /graph.svg`);
    }
    const missing = await get(`${s3Base}/graph.png`);
    expect(missing.response.status).toBe(404);
    expect(JSON.parse(missing.text).paths).toContain('/graph.svg');
  });

  it('Prometheus source: the measured figures, one node per cluster node, the same ETag while nothing changes', async () => {
    const model = JSON.parse((await get(`${promBase}/graph.json`)).text) as GraphModel;
    expect(model.nodes.map((n) => n.name)).toEqual(NODES);
    expect(model.nodes.map((n) => n.address)).toEqual(cluster.nodes.map((n) => n.address));
    for (const pair of pairs) {
      const edge = model.edges.find((e) => e.src === pair.src && e.dst === pair.dst);
      expect(edge?.connectivity, `${pair.src}->${pair.dst}`).toBe(pair.connectivity);
      if (pair.connectivity === 1) {
        expect(edge?.latency?.median).toBe(pair.latency.icmp?.median);
        expect(edge?.throughput?.median).toBe(pair.throughput.src_to_dst?.median);
      } else {
        expect(edge?.reason).toBe('unreachable');
      }
    }
    const first = await get(`${promBase}/graph.svg`);
    expect(first.response.status).toBe(200);
    expect(svgNodes(first.text).sort()).toEqual(NODES);
    const etag = first.response.headers.get('etag') ?? '';
    const again = await get(`${promBase}/graph.svg`, { headers: { 'If-None-Match': etag } });
    expect(again.response.status).toBe(304);
    const health = JSON.parse((await get(`${promBase}/healthz`)).text);
    expect(health).toMatchObject({
      status: 'ok',
      source: 'prometheus',
      from: fixture.stack.prometheusUrl,
      sourceState: { state: 'ok', lastAnswer: { ok: true } },
    });
  });

  it('as a cloud function: HTTP API events answered by the same server (ETag, 304, 400, page)', async () => {
    const handler = httpApiHandler(async () => {
      const api = await createGraphApi(
        graphApiFrom('/nonexistent', envFor({ NETMON_GRAPH_API_SOURCE: 's3' })).options,
      );
      apis.push(api);
      return api;
    });
    const event = (rawPath: string, rawQueryString = '', headers: Record<string, string> = {}) => ({
      version: '2.0',
      rawPath,
      rawQueryString,
      headers,
      requestContext: { http: { method: 'GET', path: rawPath } },
    });
    const svg = await handler(event('/graph.svg'));
    expect(svg.statusCode).toBe(200);
    expect(svg.headers['content-type']).toBe('image/svg+xml');
    expect(svg.isBase64Encoded).toBe(false);
    expect(svg.body).toBe((await get(`${s3Base}/graph.svg`)).text);
    const etag = svg.headers.etag as string;
    expect((await handler(event('/graph.svg', '', { 'if-none-match': etag }))).statusCode).toBe(304);
    const bad = await handler(event('/graph.svg', 'metric=speed'));
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).parameter).toBe('metric');
    const page = await handler(event('/', '', { 'accept-encoding': 'gzip' }));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<html');
    expect(page.headers['content-encoding']).toBeUndefined();
    expect((await handler({ not: 'an event' })).statusCode).toBe(400);
  });

  it('/metrics: its own request counts in a registry of its own, clean for promtool', async () => {
    const { response, text } = await get(`${s3Base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const count = (labels: string): number =>
      Number(new RegExp(`^netmon_graph_api_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    expect(count('route="/graph.svg",method="GET",code="200"')).toBeGreaterThanOrEqual(3);
    expect(count('route="/graph.svg",method="GET",code="304"')).toBeGreaterThanOrEqual(4);
    expect(count('route="/graph.svg",method="GET",code="503"')).toBe(1);
    expect(count('route="/graph.svg",method="POST",code="405"')).toBe(1);
    expect(count('route="unknown",method="GET",code="404"')).toBe(1);
    expect(text).toMatch(
      /^netmon_graph_api_request_duration_seconds_count\{route="\/graph.dot",method="GET"\} \d+$/m,
    );
    expect(text).toMatch(/^netmon_graph_api_render_duration_seconds_count\{view="dot:throughput"\} 1$/m);
    expect(text).not.toContain('netmon_connectivity');
    expect(await checkExposition(text)).toEqual([]);
  });

  it('the bundle runs as the Deployment does: page and assets served, SIGTERM closes idle keep-alive connections and exits', async () => {
    const port = await freePort();
    const server = startProcess([process.execPath, GRAPH_API], {
      env: envFor({
        NETMON_GRAPH_API_PORT: String(port),
        NETMON_GRAPH_API_ADDRESS: '127.0.0.1',
        LOG_LEVEL: 'info',
      }),
      timeoutMs: 60_000,
    });
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        'the graph API to answer /healthz',
        async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok ?? false,
        {
          timeoutMs: 20_000,
        },
      );
      const page = await get(`${base}/?metric=throughput`);
      expect(page.response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.response.headers.get('content-security-policy')).toContain("'wasm-unsafe-eval'");
      expect(page.text).toContain('<option value="throughput" selected>');
      expect(page.text).toContain('src="assets/graph-page.js"');
      const script = await get(`${base}/assets/graph-page.js`, { headers: { 'Accept-Encoding': 'gzip' } });
      expect(script.response.headers.get('content-encoding')).toBe('gzip');
      expect(script.response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(script.text.length).toBeGreaterThan(500_000); // d3, d3-graphviz and Graphviz's WebAssembly

      // An idle keep-alive connection must not hold the process after SIGTERM.
      const agent = new Agent({ keepAlive: true });
      await new Promise<void>((resolve, reject) => {
        httpRequest(`${base}/healthz`, { agent }, (response) => {
          response.resume();
          response.on('end', resolve);
        })
          .on('error', reject)
          .end();
      });
      await waitFor(
        'the connection to wait idle in the agent',
        () => Object.keys(agent.freeSockets).length === 1,
      );
      const stopping = Date.now();
      process.kill(server.pid as number, 'SIGTERM');
      const result = await server.done;
      agent.destroy();
      expect(Date.now() - stopping).toBeLessThan(5000);
      expect(result.exitCode, result.stderr).toBe(143);
      expect(result.stderr).toContain('graph API stopped');
      await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    } finally {
      await server.stop();
    }
  }, 60_000);
});
