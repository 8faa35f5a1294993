import { loadConfig } from '../core/config.ts';
import type { GraphApiOptions } from '../graph-api/server.ts';
import { type GraphSource, PrometheusGraphSource, S3GraphSource } from '../graph-api/source.ts';
import { graphInputsFrom, storeFrom } from './context.ts';

/**
 * The graph API's composition root: its settings read once, its source
 * built from them. NETMON_GRAPH_API_SOURCE chooses between the set render
 * last wrote to S3 and the figures in Prometheus (then the S3 settings are
 * not needed).
 */
export interface GraphApiSettings {
  port: number;
  address: string;
  options: GraphApiOptions;
}

function sourceFrom(env: NodeJS.ProcessEnv, refreshSeconds: number, timeoutMs: number): GraphSource {
  const { NETMON_GRAPH_API_SOURCE } = loadConfig(['NETMON_GRAPH_API_SOURCE'], env);
  if (NETMON_GRAPH_API_SOURCE === 's3') return new S3GraphSource(storeFrom(env), refreshSeconds);
  // Prometheus queries give up when the request would: no query outlives the request that wanted it.
  return new PrometheusGraphSource({ ...graphInputsFrom(env), refreshSeconds, timeoutMs });
}

/** `defaultAssetsDir`: where the bundle's page assets are when NETMON_GRAPH_API_ASSETS_DIR is not set. */
export function graphApiFrom(
  defaultAssetsDir: string,
  env: NodeJS.ProcessEnv = process.env,
): GraphApiSettings {
  const config = loadConfig(
    [
      'NETMON_GRAPH_API_PORT',
      'NETMON_GRAPH_API_ADDRESS',
      'NETMON_GRAPH_API_REFRESH_SECONDS',
      'NETMON_GRAPH_API_ASSETS_DIR',
      'NETMON_CLUSTER_NAME',
      'NETMON_GRAPH_API_SOURCE_TIMEOUT_SECONDS',
      'NETMON_GRAPH_API_RENDER_CACHE_MIB',
      'NETMON_GRAPH_API_MAX_RENDERS',
      'NETMON_GRAPH_API_RENDER_QUEUE',
    ],
    env,
  );
  const sourceTimeoutMs = config.NETMON_GRAPH_API_SOURCE_TIMEOUT_SECONDS * 1000;
  return {
    port: config.NETMON_GRAPH_API_PORT,
    address: config.NETMON_GRAPH_API_ADDRESS,
    options: {
      source: sourceFrom(env, config.NETMON_GRAPH_API_REFRESH_SECONDS, sourceTimeoutMs),
      sourceTimeoutMs,
      limits: {
        cacheBytes: config.NETMON_GRAPH_API_RENDER_CACHE_MIB * 1024 * 1024,
        maxRenders: config.NETMON_GRAPH_API_MAX_RENDERS,
        queue: config.NETMON_GRAPH_API_RENDER_QUEUE,
      },
      assetsDir: config.NETMON_GRAPH_API_ASSETS_DIR ?? defaultAssetsDir,
      // Polling faster than the source is re-read would only fetch the same graph again.
      pollSeconds: Math.max(1, config.NETMON_GRAPH_API_REFRESH_SECONDS),
      title: `k8s-netmon: ${config.NETMON_CLUSTER_NAME}`,
    },
  };
}
