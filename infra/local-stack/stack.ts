import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../layers/core/config.ts';
import { log } from '../../layers/core/log.ts';
import { onShutdown } from '../../layers/core/shutdown.ts';
import { ensureWorkQueue, makeSqsClient } from '../../layers/queue/work-queue.ts';
import { startPrometheusStack } from './prometheus.ts';
import { startLocalS3 } from './s3.ts';
import { startLocalSqs } from './sqs.ts';

/**
 * The embedded default: every backing service of k8s-netmon on loopback,
 * real programs all (s3rver on a folder, local-aws-sqs, Debian's Pushgateway
 * and Prometheus). Returns the settings that point the functions at it.
 */
export interface LocalStack {
  /** NETMON_* settings for this stack, as environment variables. */
  env: Record<string, string>;
  s3Directory: string;
  prometheusUrl: string;
  pushgatewayUrl: string;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Where s3rver keeps its objects and Prometheus its data. */
  directory: string;
  visibilityTimeoutSeconds?: number;
  maxReceives?: number;
  /** Where s3rver listens (default 127.0.0.1); tests give it the rig's host address so pods in node namespaces reach it. */
  s3Address?: string;
}

/** s3rver's fixed credentials; local-aws-sqs accepts any. Not secrets: local test servers only. */
const LOCAL_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch((err) => log.warn({ err }, 'local stack: stop failed'));
    stops.length = 0;
  };
  const unregister = onShutdown('local stack', stop);
  try {
    const s3Directory = join(options.directory, 's3');
    const s3 = await startLocalS3(s3Directory, 'netmon', options.s3Address);
    stops.push(s3.stop);
    const sqs = await startLocalSqs();
    stops.push(sqs.stop);
    await mkdir(options.directory, { recursive: true });
    const prometheus = await startPrometheusStack({ dir: options.directory });
    stops.push(prometheus.stop);
    const visibility = options.visibilityTimeoutSeconds ?? 60;
    const queueUrl = await ensureWorkQueue(
      makeSqsClient({
        NETMON_SQS_ENDPOINT: sqs.endpoint,
        NETMON_SQS_REGION: 'us-east-1',
        ...LOCAL_CREDENTIALS,
      }),
      'netmon-work',
      // local-aws-sqs counts each visibility extension (the probe's heartbeat) as a receive; real SQS does not.
      { visibilityTimeoutSeconds: visibility, maxReceives: options.maxReceives ?? 10 },
    );
    const env: Partial<Record<keyof Config, string>> & Record<string, string> = {
      ...LOCAL_CREDENTIALS,
      NETMON_S3_BUCKET: s3.bucket,
      NETMON_S3_ENDPOINT: s3.endpoint,
      NETMON_SQS_ENDPOINT: sqs.endpoint,
      NETMON_SQS_QUEUE_URL: queueUrl,
      NETMON_VISIBILITY_TIMEOUT_SECONDS: String(visibility),
      NETMON_PUSHGATEWAY_URL: prometheus.pushgatewayUrl,
      NETMON_PROMETHEUS_URL: prometheus.prometheusUrl,
    };
    log.info(
      { s3: s3.endpoint, sqs: sqs.endpoint, prometheus: prometheus.prometheusUrl },
      'local stack ready',
    );
    return {
      env,
      s3Directory,
      prometheusUrl: prometheus.prometheusUrl,
      pushgatewayUrl: prometheus.pushgatewayUrl,
      stop: async () => {
        unregister();
        await stop();
      },
    };
  } catch (err) {
    unregister();
    await stop();
    throw err;
  }
}
