import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { errorLine, ValidationError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { GraphError } from '../graph/index.ts';
import type { GraphSetFile } from '../store/keys.ts';
import { withDeadline } from './health.ts';
import { acceptsGzip, documentReply, HttpError, jsonReply, type Reply } from './http.ts';
import type { RenderCache } from './limits.ts';
import type { ApiMetrics } from './metrics.ts';
import { PAGE_CSS, PAGE_SCRIPT, pageHtml } from './page.ts';
import { DEFAULT_METRIC, type ParamName, parseViewParams, type ViewParams } from './params.ts';
import { type GraphSource, GraphSourceError, NoGraphError } from './source.ts';
import { renderView, VIEW_CONTENT_TYPES, type ViewName, viewOfModel } from './views.ts';

/**
 * The graph API's routes: the graph in every format, the matrix, the page
 * and its assets, /healthz and /metrics; the checks every request passes
 * (a path, GET or HEAD, known parameters) and which error becomes which
 * status. Read-only: GET and HEAD only.
 */

export interface Route {
  params: readonly ParamName[];
  handle: (params: ViewParams, request: IncomingMessage) => Promise<Reply>;
}

export type Routes = Readonly<Record<string, Route>>;

export interface RouteContext {
  source: GraphSource;
  /** Where buildGraphPageAssets wrote the page's browser bundle. */
  assetsDir: string;
  /** How often the page polls for a new graph. */
  pollSeconds: number;
  /** The page's title. */
  title: string;
  metrics: ApiMetrics;
  /** True once the server is stopping: /healthz says so. */
  isDraining: () => boolean;
  /** Drawn views, bounded in bytes, entries and renders at once. */
  renders: RenderCache;
  /** How long a request waits for the source before 504; /healthz reports a longer wait as failing. */
  sourceTimeoutMs: number;
}

interface Asset {
  body: Uint8Array;
  gzipped: Uint8Array;
  contentType: string;
}

const VIEW_PARAMS: readonly ParamName[] = ['metric', 'maxAge'];
const GRAPH_ROUTES: Readonly<Record<string, ViewName>> = {
  '/graph.svg': 'svg',
  '/graph.dot': 'dot',
  '/graph.graphml': 'graphml',
  '/graph.json': 'json',
  '/matrix.svg': 'matrix',
};
/** The zone view: figures per zone pair, so no metric to choose. */
const ZONE_PARAMS: readonly ParamName[] = ['maxAge'];
const ZONE_ROUTES: Readonly<Record<string, ViewName>> = {
  '/graph-zones.svg': 'zones-svg',
  '/graph-zones.dot': 'zones-dot',
  '/graph-zones.graphml': 'zones-graphml',
  '/graph-zones.json': 'zones-json',
};
const ASSET_NAMES = ['graph-page.css', PAGE_SCRIPT, `${PAGE_SCRIPT}.map`];
/** /healthz asks the source itself at most this often when no request has: a silent source shows. */
const HEALTH_PROBE_MS = 10_000;

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

/** The file of render's set that is this view, or null when the view must be drawn (another metric or maxAge). */
function storedFile(view: ViewName, params: ViewParams): GraphSetFile | null {
  if (params.maxAgeSeconds !== undefined) return null;
  if (view === 'matrix') return `matrix-${params.metric ?? DEFAULT_METRIC}`;
  if ((view === 'dot' || view === 'svg') && params.metric !== undefined) return null;
  return view;
}

/** Every route of the API; reads the page's assets once. */
export async function graphApiRoutes(context: RouteContext): Promise<Routes> {
  const { source, metrics, renders, sourceTimeoutMs } = context;
  const assets = await loadAssets(context.assetsDir);
  let probedAt = 0;

  /** A read of the source, given up on (504) after the source timeout; the read itself goes on for others. */
  function fromSource<T>(read: Promise<T>): Promise<T> {
    return withDeadline(
      read,
      sourceTimeoutMs,
      () =>
        new GraphSourceError(`${source.description} did not answer within ${sourceTimeoutMs / 1000} s`, {
          cause: Object.assign(new Error('source timeout'), { name: 'TimeoutError' }),
        }),
    );
  }

  /** Starts a read nobody waits for when the source has not been heard from lately; /healthz reports it. */
  function probeSource(now: number): void {
    if (source.watch.busy || now - Math.max(probedAt, source.watch.lastAnswerMs()) < HEALTH_PROBE_MS) return;
    probedAt = now;
    source.model().catch(() => undefined); // recorded by the source's watch
  }

  function health(): Reply {
    if (context.isDraining()) return jsonReply(503, { status: 'stopping' });
    const now = Date.now();
    probeSource(now);
    const state = source.watch.state(now, sourceTimeoutMs);
    const failing = state.state === 'failing';
    return jsonReply(failing ? 503 : 200, {
      status: failing ? 'source failing' : 'ok',
      source: source.kind,
      from: source.description,
      sourceState: { ...state, timeoutSeconds: sourceTimeoutMs / 1000 },
      renders: renders.stats(),
    });
  }

  async function graphView(view: ViewName, params: ViewParams): Promise<Reply> {
    const contentType = VIEW_CONTENT_TYPES[view];
    const file = storedFile(view, params);
    if (source.stored !== undefined && file !== null) {
      const bytes = await fromSource(source.stored(file));
      if (bytes !== undefined) return documentReply(bytes, contentType);
      // A set from an older render may lack the file: drawn from its graph.json below.
    }
    const metric = view === 'dot' || view === 'svg' || view === 'matrix' ? (params.metric ?? '') : '';
    const body = await renders.run(async () => {
      const { model, fingerprint } = viewOfModel(await fromSource(source.model()), params.maxAgeSeconds);
      const key = [fingerprint, view, metric].join('|');
      return renders.get(key, async () => {
        const end = metrics.renders.startTimer({ view: metric === '' ? view : `${view}:${metric}` });
        try {
          return await renderView(model, view, params);
        } finally {
          end();
        }
      });
    });
    return documentReply(body, contentType);
  }

  function asset(path: string, request: IncomingMessage): Reply {
    const found = assets.get(path);
    if (found === undefined) {
      throw new HttpError(
        503,
        `the page's browser bundle is missing from ${context.assetsDir}: build it with buildGraphPageAssets (npm run build)`,
      );
    }
    return {
      ...documentReply(found.body, found.contentType),
      ...(acceptsGzip(request) ? { gzipped: found.gzipped } : {}),
    };
  }

  return {
    '/': {
      params: VIEW_PARAMS,
      handle: async (params, request) => {
        asset(`/assets/${PAGE_SCRIPT}`, request); // the shell is useless without its script
        const html = pageHtml({ pollSeconds: context.pollSeconds, title: context.title }, params);
        return documentReply(html, 'text/html; charset=utf-8');
      },
    },
    // The source's health, for people and monitoring: 503 while it fails or does not answer.
    '/healthz': { params: [], handle: async () => health() },
    // Alive: the event loop answers. Kubernetes' probes use this one: restarting the pod or taking
    // every replica out of the Service does not mend S3 or Prometheus, and hides the 502s that say why.
    '/livez': {
      params: [],
      handle: async () =>
        context.isDraining() ? jsonReply(503, { status: 'stopping' }) : jsonReply(200, { status: 'ok' }),
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
      Object.entries(GRAPH_ROUTES).map(([path, view]): [string, Route] => [
        path,
        { params: VIEW_PARAMS, handle: (params) => graphView(view, params) },
      ]),
    ),
    ...Object.fromEntries(
      Object.entries(ZONE_ROUTES).map(([path, view]): [string, Route] => [
        path,
        { params: ZONE_PARAMS, handle: (params) => graphView(view, params) },
      ]),
    ),
    ...Object.fromEntries(
      ASSET_NAMES.map((name): [string, Route] => [
        `/assets/${name}`,
        { params: [], handle: async (_, request) => asset(`/assets/${name}`, request) },
      ]),
    ),
  };
}

/** The route of a request target; undefined when the target or the path is unknown. */
export function routeOf(routes: Routes, url: URL | null): Route | undefined {
  return url !== null && Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
}

/** Checks the request (target, path, method, parameters) and lets its route answer. */
export async function answer(
  routes: Routes,
  request: IncomingMessage,
  url: URL | null,
  route: Route | undefined,
): Promise<Reply> {
  if (url === null) throw new HttpError(400, `${JSON.stringify(request.url)} is not a request target`);
  if (route === undefined) {
    throw new HttpError(404, `no such path ${JSON.stringify(url.pathname)}`, { paths: Object.keys(routes) });
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

/** What a failure answers: its own status, 400 for a bad parameter, 503 without a graph, 502 when the source fails, 504 when it does not answer. */
export function errorReply(err: unknown, metrics: ApiMetrics, source: GraphSource): Reply {
  if (err instanceof HttpError)
    return { ...jsonReply(err.status, { error: err.message, ...err.details }), headers: err.headers };
  if (err instanceof ValidationError) {
    return jsonReply(400, {
      error: err.message,
      parameter: err.field,
      value: err.value,
      expected: err.expected,
    });
  }
  if (err instanceof NoGraphError)
    return { ...jsonReply(503, { error: err.message }), headers: { 'Retry-After': '60' } };
  if (err instanceof GraphSourceError) {
    metrics.sourceErrors.inc({ source: source.kind });
    return jsonReply(err.timedOut ? 504 : 502, { error: err.message });
  }
  if (err instanceof GraphError) return jsonReply(500, { error: err.message });
  return jsonReply(500, { error: `internal error: ${errorLine(err)}` });
}
