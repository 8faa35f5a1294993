import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorLine } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { type Reply, send } from './http.ts';
import { DEFAULT_RENDER_LIMITS, RenderCache, type RenderLimits, type RenderStats } from './limits.ts';
import { type ApiMetrics, createApiMetrics } from './metrics.ts';
import { answer, errorReply, graphApiRoutes, routeOf } from './routes.ts';
import type { GraphSource } from './source.ts';

/**
 * The graph API over node:http: routes.ts answers, http.ts puts the answer
 * on the wire; this file owns the server's life (listen, drain, close) and
 * counts and logs every request. Every document carries a strong ETag (a
 * hash of its bytes), so a poller's If-None-Match costs a 304 and no body.
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
  /** Bounds of the drawn views' cache and of renders at once (default DEFAULT_RENDER_LIMITS). */
  limits?: Partial<RenderLimits>;
  /** How long a request waits for the source before 504 (default 10 s). */
  sourceTimeoutMs?: number;
}

export const DEFAULT_SOURCE_TIMEOUT_MS = 10_000;

export interface GraphApi {
  readonly server: Server;
  readonly metrics: ApiMetrics;
  /** The drawn views kept and the renders running, waiting and refused (also on /healthz). */
  renderStats(): RenderStats;
  listen(port: number, address: string): Promise<AddressInfo>;
  /** Stops accepting, lets requests in flight finish (at most graceMs), then closes every connection. */
  close(graceMs?: number): Promise<void>;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

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
  let draining = false;
  const renders = new RenderCache({ ...DEFAULT_RENDER_LIMITS, ...options.limits });
  const routes = await graphApiRoutes({
    source,
    assetsDir: options.assetsDir,
    pollSeconds: options.pollSeconds,
    title: options.title,
    metrics,
    isDraining: () => draining,
    renders,
    sourceTimeoutMs: options.sourceTimeoutMs ?? DEFAULT_SOURCE_TIMEOUT_MS,
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = URL.parse(request.url ?? '/', 'http://graph-api.invalid');
    const route = routeOf(routes, url);
    // Metric labels stay bounded: unknown paths and methods share one value.
    const routeLabel = route === undefined || url === null ? 'unknown' : url.pathname;
    const method = METHODS.includes(request.method ?? '') ? (request.method as string) : 'other';
    let reply: Reply;
    let failure: unknown;
    try {
      reply = await answer(routes, request, url, route);
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
    logRequest({
      method: request.method,
      path: url?.pathname ?? request.url,
      query: url?.search ?? '',
      status,
      bytes,
      ms: Math.round(seconds * 1000),
      ...(failure === undefined ? {} : { error: errorLine(failure) }),
    });
  }

  const server = createServer((request, response) => {
    void handle(request, response);
  });

  return {
    server,
    metrics,
    renderStats: () => renders.stats(),
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
