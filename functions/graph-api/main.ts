#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { errorLine } from '../../layers/core/errors.ts';
import { log } from '../../layers/core/log.ts';
import { onShutdown } from '../../layers/core/shutdown.ts';
import { httpApiHandler } from '../../layers/graph-api/lambda.ts';
import { createGraphApi, type GraphApi } from '../../layers/graph-api/server.ts';
import { graphApiFrom } from '../../layers/wiring/graph-api.ts';

/**
 * graph-api (Deployment): serves the graph of the cluster over HTTP until
 * SIGTERM, then finishes the requests in flight and exits. The page's
 * browser bundle is expected in graph-page/ beside this file (the build puts
 * it there) unless NETMON_GRAPH_API_ASSETS_DIR says otherwise.
 */
export async function start(env: NodeJS.ProcessEnv = process.env): Promise<GraphApi> {
  const settings = graphApiFrom(fileURLToPath(new URL('graph-page/', import.meta.url)), env);
  const api = await createGraphApi(settings.options);
  onShutdown('graph API', () => api.close());
  await api.listen(settings.port, settings.address);
  return api;
}

/** As a cloud function behind an HTTP API: the same server, on loopback, one per container. */
export const handler = httpApiHandler(async () => {
  const settings = graphApiFrom(fileURLToPath(new URL('graph-page/', import.meta.url)));
  return createGraphApi(settings.options);
});

// No top-level await: a module with one cannot be require()d, and `osls invoke local` require()s the bundle.
if (import.meta.main) {
  start().catch((err: unknown) => {
    log.error({ err: errorLine(err) }, 'graph API failed to start');
    process.stderr.write(`graph-api: ${errorLine(err)}\n`);
    process.exit(err instanceof Error && err.name === 'ConfigError' ? 2 : 1);
  });
}
