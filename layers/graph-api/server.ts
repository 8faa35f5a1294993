import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { errorLine, NetmonError, ValidationError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { GraphError, type GraphSetFile } from '../graph/index.ts';
import { type ApiMetrics, createApiMetrics } from './metrics.ts';
import { PAGE_CSS, PAGE_SCRIPT, pageHtml } from './page.ts';
import { DEFAULT_METRIC, type ParamName, parseViewParams, type ViewParams } from './params.ts';
import { type GraphSource, GraphSourceError, NoGraphError } from './source.ts';
import { modelFingerprint, renderView, VIEW_CONTENT_TYPES, type ViewName } from './views.ts';

/**
 * The graph API over node:http: the graph in every format, the matrix, the
 * interactive page and its assets, /healthz and /metrics. Read-only: GET and
 * HEAD only. Every document carries a strong ETag (a hash of its bytes), so
 * a poller's If-None-Match costs a 304 and no body.
 */

export interface GraphApiOptions {
  source: GraphSource;
  /** Where buildGraphPageAssets wrote the page's browser bundle. */
  assetsDir: string;
  /** How often the page polls for a new graph. */
  pollSeconds: number;
  /** The page's title. */
  title: string;
  metrics?: ApiMetrics;
}

export interface GraphApi {
  readonly server: Server;
  readonly metrics: ApiMetrics;
  listen(port: number, address: string): Promise<AddressInfo>;
  /** Stops accepting, lets requests in flight finish (at most graceMs), then closes every connection. */
  close(graceMs?: number): Promise<void>;
}

interface Reply {
  status: number;
  body: string | Uint8Array;
  contentType: string;
  /** Validators and caching: documents get an ETag and must be revalidated; health and metrics are never cached. */
  cache: 'revalidate' | 'none';
  gzipped?: Uint8Array;
  headers?: Record<string, string>;
}

interface Asset {
  body: Uint8Array;
  gzipped: Uint8Array;
  contentType: string;
}

type RouteHandler = (params: ViewParams, request: IncomingMessage) => Promise<Reply>;

interface Route {
  params: readonly ParamName[];
  handle: RouteHandler;
}

const VIEW_PARAMS: readonly ParamName[] = ['metric', 'maxAge'];
const GRAPH_ROUTES: Readonly<Record<string, ViewName>> = {
  '/graph.svg': 'svg',
  '/graph.dot': 'dot',
  '/graph.graphml': 'graphml',
  '/graph.json': 'json',
  '/matrix.svg': 'matrix',
};
const RENDER_CACHE_ENTRIES = 64;

/** A reply that is not a document: an error, named in JSON with what to do. */
class HttpError extends NetmonError {
  override name = 'HttpError';
  readonly status: number;
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    details: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.details = details;
    this.headers = headers;
  }
}

function json(status: number, value: unknown): Reply {
  return {
    status,
    body: `${JSON.stringify(value, null, 2)}\n`,
    contentType: 'application/json',
    cache: 'none',
  };
}

function etagOf(body: string | Uint8Array): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
}

/** If-None-Match uses the weak comparison: W/"x" matches "x". */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const strip = (tag: string): string => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => tag.trim() === '*' || strip(tag) === strip(etag));
}

function acceptsGzip(request: IncomingMessage): boolean {
  return /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
}

/** Renderings by model fingerprint and view: a poll with unchanged figures costs no layout. */
class RenderCache {
  private readonly entries = new Map<string, Promise<string>>();

  get(key: string, render: () => Promise<string>): Promise<string> {
    let entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key); // most recently used goes last
    } else {
      entry = render();
      entry.catch(() => this.entries.delete(key));
    }
    this.entries.set(key, entry);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= RENDER_CACHE_ENTRIES) break;
      this.entries.delete(oldest);
    }
    return entry;
  }
}

async function loadAssets(dir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  const add = (name: string, body: Uint8Array, contentType: string): void => {
    assets.set(`/assets/${name}`, { body, gzipped: gzipSync(body), contentType });
  };
  add('graph-page.css', Buffer.from(PAGE_CSS), 'text/css; charset=utf-8');
  for (const [name, type] of [
    [PAGE_SCRIPT, 'text/javascript; charset=utf-8'],
    [`${PAGE_SCRIPT}.map`, 'application/json'],
  ] as const) {
    const body = await readFile(join(dir, name)).catch(() => undefined);
    if (body !== undefined) add(name, body, type);
  }
  if (!assets.has(`/assets/${PAGE_SCRIPT}`)) {
    log.warn(
      { assetsDir: dir },
      'graph API: the page bundle is missing; / answers 503 until it is built (buildGraphPageAssets)',
    );
  }
  return assets;
}

function errorReply(err: unknown, metrics: ApiMetrics, source: GraphSource): Reply {
  if (err instanceof HttpError)
    return { ...json(err.status, { error: err.message, ...err.details }), headers: err.headers };
  if (err instanceof ValidationError) {
    return json(400, { error: err.message, parameter: err.field, value: err.value, expected: err.expected });
  }
  if (err instanceof NoGraphError)
    return { ...json(503, { error: err.message }), headers: { 'Retry-After': '60' } };
  if (err instanceof GraphSourceError) {
    metrics.sourceErrors.inc({ source: source.kind });
    return json(502, { error: err.message });
  }
  if (err instanceof GraphError) return json(500, { error: err.message });
  return json(500, { error: `internal error: ${errorLine(err)}` });
}

const PAGE_CSP =
  // WebAssembly (Graphviz) needs wasm-unsafe-eval; d3 sets inline styles.
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";

function baseHeaders(reply: Reply, draining: boolean): Record<string, string> {
  return {
    'Content-Type': reply.contentType,
    'X-Content-Type-Options': 'nosniff',
    ...(reply.contentType.startsWith('text/html') ? { 'Content-Security-Policy': PAGE_CSP } : {}),
    ...(draining ? { Connection: 'close' } : {}),
    ...(reply.headers ?? {}),
  };
}

/** Status, headers and body on the wire; returns the bytes of the body. */
function send(request: IncomingMessage, response: ServerResponse, reply: Reply, draining: boolean): number {
  const headers = baseHeaders(reply, draining);
  let body = reply.gzipped ?? reply.body;
  let status = reply.status;
  if (reply.cache === 'none') {
    headers['Cache-Control'] = 'no-store';
  } else {
    // Strong validators are per representation: the gzip'd bytes get their own.
    const etag = etagOf(reply.body);
    headers.ETag = reply.gzipped === undefined ? etag : `${etag.slice(0, -1)}-gz"`;
    headers['Cache-Control'] = 'no-cache';
    headers.Vary = 'Accept-Encoding';
    if (reply.gzipped !== undefined) headers['Content-Encoding'] = 'gzip';
    if (status === 200 && matches(request.headers['if-none-match'], headers.ETag)) {
      status = 304;
      body = '';
      delete headers['Content-Type'];
      delete headers['Content-Encoding'];
    }
  }
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  if (status !== 304) headers['Content-Length'] = String(bytes.length);
  response.writeHead(status, headers);
  response.end(request.method === 'HEAD' || status === 304 ? undefined : bytes);
  return bytes.length;
}

/** The file of render's set that is this view, or null when the view must be drawn (another metric or maxAge). */
function storedFile(view: ViewName, params: ViewParams): GraphSetFile | null {
  if (params.maxAgeSeconds !== undefined) return null;
  if (view === 'matrix') return `matrix-${params.metric ?? DEFAULT_METRIC}`;
  if ((view === 'dot' || view === 'svg') && params.metric !== undefined) return null;
  return view;
}

/** One line per request: refusals at info, failures at error; 503 is a state (no graph yet), not a fault. */
function logRequest(entry: { status: number } & Record<string, unknown>): void {
  if (entry.status === 503) log.warn(entry, 'graph API request could not be answered');
  else if (entry.status >= 500) log.error(entry, 'graph API request failed');
  else if (entry.status >= 400) log.info(entry, 'graph API request refused');
  else log.debug(entry, 'graph API request');
}

export async function createGraphApi(options: GraphApiOptions): Promise<GraphApi> {
  const { source } = options;
  const metrics = options.metrics ?? createApiMetrics();
  const assets = await loadAssets(options.assetsDir);
  const renders = new RenderCache();
  let draining = false;

  const document = (body: string | Uint8Array, contentType: string): Reply => ({
    status: 200,
    body,
    contentType,
    cache: 'revalidate',
  });

  async function graphView(view: ViewName, params: ViewParams): Promise<Reply> {
    const contentType = VIEW_CONTENT_TYPES[view];
    const file = storedFile(view, params);
    if (source.stored !== undefined && file !== null) {
      const bytes = await source.stored(file);
      if (bytes !== undefined) return document(bytes, contentType);
      // A set from an older render may lack the file: drawn from its graph.json below.
    }
    const model = await source.model(params.maxAgeSeconds);
    const metric = view === 'dot' || view === 'svg' || view === 'matrix' ? (params.metric ?? '') : '';
    const key = [modelFingerprint(model), view, metric].join('|');
    const body = await renders.get(key, async () => {
      const end = metrics.renders.startTimer({ view: metric === '' ? view : `${view}:${metric}` });
      try {
        return await renderView(model, view, params);
      } finally {
        end();
      }
    });
    return document(body, contentType);
  }

  function asset(path: string, request: IncomingMessage): Reply {
    const found = assets.get(path);
    if (found === undefined) {
      throw new HttpError(
        503,
        `the page's browser bundle is missing from ${options.assetsDir}: build it with buildGraphPageAssets (npm run build)`,
      );
    }
    return {
      ...document(found.body, found.contentType),
      ...(acceptsGzip(request) ? { gzipped: found.gzipped } : {}),
    };
  }

  const routes: Record<string, Route> = {
    '/': {
      params: VIEW_PARAMS,
      handle: async (params, request) => {
        asset(`/assets/${PAGE_SCRIPT}`, request); // the shell is useless without its script
        const html = pageHtml({ pollSeconds: options.pollSeconds, title: options.title }, params);
        return document(html, 'text/html; charset=utf-8');
      },
    },
    '/healthz': {
      params: [],
      handle: async () =>
        draining
          ? json(503, { status: 'stopping' })
          : json(200, { status: 'ok', source: source.kind, from: source.description }),
    },
    '/metrics': {
      params: [],
      handle: async () => ({
        status: 200,
        body: await metrics.registry.metrics(),
        contentType: metrics.registry.contentType,
        cache: 'none',
      }),
    },
    ...Object.fromEntries(
      Object.entries(GRAPH_ROUTES).map(([path, view]) => [
        path,
        { params: VIEW_PARAMS, handle: (params: ViewParams) => graphView(view, params) },
      ]),
    ),
    ...Object.fromEntries(
      ['graph-page.css', PAGE_SCRIPT, `${PAGE_SCRIPT}.map`].map((name) => [
        `/assets/${name}`,
        {
          params: [],
          handle: async (_: ViewParams, request: IncomingMessage) => asset(`/assets/${name}`, request),
        },
      ]),
    ),
  };
  const paths = Object.keys(routes);

  async function answer(request: IncomingMessage, url: URL | null, route: Route | undefined): Promise<Reply> {
    if (url === null) throw new HttpError(400, `${JSON.stringify(request.url)} is not a request target`);
    if (route === undefined) {
      throw new HttpError(404, `no such path ${JSON.stringify(url.pathname)}`, { paths });
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      throw new HttpError(
        405,
        `${request.method} is not allowed on ${url.pathname}: the graph API is read-only (GET, HEAD)`,
        {},
        { Allow: 'GET, HEAD' },
      );
    }
    const params = parseViewParams(url.searchParams, url.pathname, route.params);
    return route.handle(params, request);
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = URL.parse(request.url ?? '/', 'http://graph-api.invalid');
    const route = url !== null && Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
    const routeLabel = route === undefined || url === null ? 'unknown' : url.pathname;
    const method = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].includes(request.method ?? '')
      ? (request.method as string)
      : 'other';
    let reply: Reply;
    let failure: unknown;
    try {
      reply = await answer(request, url, route);
    } catch (err) {
      failure = err;
      reply = errorReply(err, metrics, source);
    }
    let bytes = 0;
    try {
      bytes = send(request, response, reply, draining);
    } catch (err) {
      failure ??= err;
      response.destroy();
    }
    const seconds = (performance.now() - started) / 1000;
    const status = response.statusCode;
    metrics.requests.inc({ route: routeLabel, method, code: String(status) });
    metrics.duration.observe({ route: routeLabel, method }, seconds);
    const entry = {
      method: request.method,
      path: url?.pathname ?? request.url,
      query: url?.search ?? '',
      status,
      bytes,
      ms: Math.round(seconds * 1000),
      ...(failure === undefined ? {} : { error: errorLine(failure) }),
    };
    logRequest(entry);
  }

  const server = createServer((request, response) => {
    void handle(request, response);
  });

  return {
    server,
    metrics,
    listen: (port, address) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, address, () => {
          server.off('error', reject);
          const bound = server.address() as AddressInfo;
          log.info(
            { address: bound.address, port: bound.port, source: source.kind, from: source.description },
            'graph API listening',
          );
          resolve(bound);
        });
      }),
    close: async (graceMs = 10_000) => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      force.unref();
      await closed;
      clearTimeout(force);
      log.info({}, 'graph API stopped');
    },
  };
}
