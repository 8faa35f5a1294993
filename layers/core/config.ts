import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  DEFAULT_DELAY_SECONDS,
  DEFAULT_SERVER_PORTS,
  DELAY_RANGE,
  LENGTH_RANGE,
  TEST_NAMES,
  testNamesText,
} from '../domain/test-types.ts';
import { ConfigError } from './errors.ts';
import { redactUrl } from './redact.ts';

/**
 * Every setting of k8s-netmon, read once from the environment (or a JSON
 * config file named by NETMON_CONFIG_FILE, whose keys are the same variable
 * names; the environment wins), validated, frozen. An error names the
 * variable, its value and the expected form.
 */

/** Defaults of NETMON_CONNECT_TIMEOUT_SECONDS and NETMON_REQUEST_TIMEOUT_SECONDS, also for clients built without them. */
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 5;
export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 30;

/** The longest a SigV4 presigned URL may last (X-Amz-Expires): 7 days. */
export const PRESIGNED_URL_MAX_SECONDS = 604_800;

const url = z.url({ protocol: /^https?$/ });
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const seconds = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** Timeouts may be fractions of a second (tests, and peers on the same host). */
const timeout = (min: number, max: number) => z.coerce.number().min(min).max(max);
const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
const labelMap = z.record(z.string(), z.string());

const SETTINGS = {
  NETMON_S3_BUCKET: {
    schema: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/),
    expected: 'an S3 bucket name (3-63 of a-z 0-9 . -)',
  },
  NETMON_S3_ENDPOINT: {
    schema: url.optional(),
    expected: 'an http(s) URL of an S3-compatible endpoint (empty for AWS)',
  },
  NETMON_S3_REGION: { schema: z.string().min(1).default('us-east-1'), expected: 'an AWS region name' },
  NETMON_S3_FORCE_PATH_STYLE: { schema: bool.default(true), expected: 'true or false' },
  // s3rver, MinIO and Ceph store the aws-chunked framing of streamed checksums as data (see NOTES.md).
  NETMON_S3_CHECKSUMS: {
    schema: z.enum(['WHEN_REQUIRED', 'WHEN_SUPPORTED']).default('WHEN_REQUIRED'),
    expected: 'WHEN_REQUIRED or WHEN_SUPPORTED',
  },
  NETMON_SQS_ENDPOINT: {
    schema: url.optional(),
    expected: 'an http(s) URL of an SQS-compatible endpoint (empty for AWS)',
  },
  NETMON_SQS_REGION: { schema: z.string().min(1).default('us-east-1'), expected: 'an AWS region name' },
  NETMON_SQS_QUEUE_URL: { schema: url, expected: 'the URL of the FIFO work queue (ends in .fifo)' },
  NETMON_VISIBILITY_TIMEOUT_SECONDS: {
    schema: seconds(10, 43_200).default(120),
    expected: 'whole seconds from 10 to 43200',
  },
  NETMON_PUSHGATEWAY_URL: { schema: url, expected: 'the http(s) URL of the Prometheus Pushgateway' },
  NETMON_PROMETHEUS_URL: { schema: url, expected: 'the http(s) URL of Prometheus (its query API)' },
  NETMON_NODES_FILE: {
    schema: z.string().min(1).optional(),
    expected: 'a path to a JSON list of nodes (local runner)',
  },
  NETMON_SCHEDULES: {
    schema: z.string().min(2).optional(),
    expected: 'a JSON list of schedules [{"name","cron","test","length"}]',
  },
  NETMON_LOCK_FILE: {
    schema: z.string().min(1).default('/tmp/netmon-test.lock'),
    expected: 'a file path for the test lock',
  },
  NETMON_WORK_DIR: {
    schema: z.string().min(1).default('/tmp/netmon-runs'),
    expected: 'a directory for flent output',
  },
  NETMON_STORE_RETRY_SECONDS: {
    schema: seconds(0, 600).default(30),
    expected:
      'whole seconds from 0 to 600: how long probe and agent retry storing a result or archive while S3 is away',
  },
  NETMON_SPOOL_MAX_BYTES: {
    schema: z.coerce.number().int().min(0).max(1_099_511_627_776).default(268_435_456),
    expected:
      'bytes from 0 up: how much the local runner keeps under <NETMON_WORK_DIR>/spool while S3 is away (0: nothing; the test runs again)',
  },
  NETMON_PROBE_BUDGET_SECONDS: {
    schema: seconds(10, 86_400).default(840),
    expected: 'whole seconds from 10 to 86400',
  },
  NETMON_REQUEUE_AFTER_SECONDS: {
    schema: seconds(60, 86_400).default(3600),
    expected:
      'whole seconds from 60 to 86400: how long a queued pair may wait without a result before plan queues it again (longer than a full queue of tests takes)',
  },
  NETMON_ROUND_DEADLINE_SECONDS: {
    schema: seconds(60, 604_800).optional(),
    expected:
      "whole seconds from 60 to 604800: how long a round may stay open before plan closes it, its untested pairs skipped as round-deadline (unset: the first cron tick after twice the round's healthy length)",
  },
  NETMON_GROUP_RETENTION_SECONDS: {
    schema: seconds(300, 31_536_000).default(86_400),
    expected:
      'whole seconds from 300 up: how long the Pushgateway keeps the figures of a node or schedule that is gone (plan deletes them after)',
  },
  NETMON_GRAPH_MAX_AGE_SECONDS: {
    schema: seconds(10, 31_536_000).default(3600),
    expected: 'whole seconds from 10 up',
  },
  NETMON_GRAPH_KEEP: {
    schema: seconds(1, 10_000).default(48),
    expected: 'how many timestamped graph sets to keep, 1 to 10000',
  },
  NETMON_GRAPH_LINK_SECONDS: {
    schema: seconds(1, PRESIGNED_URL_MAX_SECONDS).optional(),
    expected: `whole seconds from 1 to ${PRESIGNED_URL_MAX_SECONDS} (7 days, the most SigV4 allows): how long the presigned links in render's report open (empty: no links)`,
  },
  // Optional static credentials; without them the SDK's default chain applies (IRSA, instance roles, ~/.aws).
  AWS_ACCESS_KEY_ID: { schema: z.string().min(1).optional(), expected: 'an access key id' },
  AWS_SECRET_ACCESS_KEY: { schema: z.string().min(1).optional(), expected: 'a secret access key' },
  AWS_SESSION_TOKEN: { schema: z.string().min(1).optional(), expected: 'a session token' },
  // The agent (client pod of the Kubernetes runner): what to measure, set by the runner in the pod spec.
  NETMON_AGENT_HOST: { schema: z.string().min(1), expected: 'the address of the server pod (dst node)' },
  NETMON_AGENT_TEST: {
    schema: z.enum(TEST_NAMES),
    expected: testNamesText(),
  },
  NETMON_AGENT_LENGTH_SECONDS: {
    schema: seconds(LENGTH_RANGE.min, LENGTH_RANGE.max),
    expected: `whole seconds from ${LENGTH_RANGE.min} to ${LENGTH_RANGE.max}`,
  },
  NETMON_AGENT_DELAY_SECONDS: {
    schema: seconds(DELAY_RANGE.min, DELAY_RANGE.max).default(DEFAULT_DELAY_SECONDS),
    expected: `whole seconds from ${DELAY_RANGE.min} to ${DELAY_RANGE.max}`,
  },
  NETMON_AGENT_SCHEDULE: { schema: z.string().min(1), expected: 'the schedule name' },
  NETMON_AGENT_SRC: { schema: z.string().min(1), expected: 'the source node name' },
  NETMON_AGENT_DST: { schema: z.string().min(1), expected: 'the destination node name' },
  NETMON_TERMINATION_LOG: {
    schema: z.string().min(1).default('/dev/termination-log'),
    expected: "a file path (the pod's terminationMessagePath)",
  },
  // Where tests run and what they measure: the local runner (namespaces on this host) or Kubernetes pods.
  NETMON_RUNNER: {
    schema: z.enum(['local', 'kubernetes']).default('local'),
    expected: 'local (tests in network namespaces of this host) or kubernetes (test pods)',
  },
  NETMON_NAMESPACE: {
    schema: name.default('default'),
    expected: 'the Kubernetes namespace of the test pods, the Lease and the TestSchedules',
  },
  NETMON_POD_NAME: {
    schema: z.string().min(1).default(`pid-${process.pid}`),
    expected: "this pod's name (holder identity of the test Lease)",
  },
  NETMON_IMAGE: {
    schema: z
      .string()
      .regex(/^[^\s]+$/)
      .default('ghcr.io/erigrid/k8s-netmon:0.1.0'),
    expected: 'the Flent image for test pods (repository:tag)',
  },
  NETMON_HOST_NETWORK: {
    schema: bool.default(true),
    expected: "true (test the nodes' own network) or false (the pod network)",
  },
  NETMON_NODE_SELECTOR: {
    schema: z
      .string()
      .transform((text, ctx) => {
        try {
          return labelMap.parse(JSON.parse(text));
        } catch {
          ctx.addIssue({ code: 'custom', message: 'not a JSON object of strings' });
          return z.NEVER;
        }
      })
      .default({}),
    expected: 'a JSON object of node labels, e.g. {"netmon":"true"} (empty: every node)',
  },
  NETMON_S3_CREDENTIALS_SECRET: {
    schema: name.optional(),
    expected: 'the name of a Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for test pods',
  },
  NETMON_SERVER_READY_TIMEOUT_SECONDS: {
    schema: seconds(5, 3600).default(60),
    expected: 'whole seconds from 5 to 3600 (server pod start, image pull included)',
  },
  NETMON_NETSERVER_PORT: {
    schema: seconds(1, 65535).default(DEFAULT_SERVER_PORTS.netserver),
    expected: "a TCP port from 1 to 65535 for netperf's netserver on the tested node",
  },
  NETMON_IRTT_PORT: {
    schema: seconds(1, 65535).default(DEFAULT_SERVER_PORTS.irtt),
    expected:
      "a UDP port from 1 to 65535 for the irtt server on the tested node (flent's irtt client uses 2112)",
  },
  NETMON_CLUSTER_NAME: {
    schema: name.default('cluster'),
    expected: 'a DNS label naming the cluster (graph title)',
  },
  // The graph API (functions/graph-api): where it listens and where its graphs come from.
  NETMON_GRAPH_API_PORT: {
    schema: z.coerce.number().int().min(0).max(65_535).default(8080),
    expected: 'a TCP port from 1 to 65535 (0: any free port)',
  },
  NETMON_GRAPH_API_ADDRESS: {
    schema: z.union([z.ipv4(), z.ipv6()]).default('0.0.0.0'),
    expected: 'an IP address to listen on, e.g. 0.0.0.0, 127.0.0.1 or ::',
  },
  NETMON_GRAPH_API_SOURCE: {
    schema: z.enum(['s3', 'prometheus']).default('s3'),
    expected:
      "s3 (serve the render function's latest graph set) or prometheus (render from the latest figures on request)",
  },
  NETMON_GRAPH_API_REFRESH_SECONDS: {
    schema: seconds(0, 3600).default(15),
    expected: 'whole seconds from 0 to 3600: how long one read of the source is reused (0: every request)',
  },
  NETMON_GRAPH_API_ASSETS_DIR: {
    schema: z.string().min(1).optional(),
    expected: "a directory holding the page's browser bundle (default: graph-page/ beside graph-api.js)",
  },
  // Timeouts of every S3 and SQS call: a peer that accepts and never answers must not hang a function.
  NETMON_CONNECT_TIMEOUT_SECONDS: {
    schema: timeout(0.1, 300).default(DEFAULT_CONNECT_TIMEOUT_SECONDS),
    expected: 'seconds from 0.1 to 300: how long a connection to S3 or SQS may take to open',
  },
  NETMON_REQUEST_TIMEOUT_SECONDS: {
    schema: timeout(0.1, 3600).default(DEFAULT_REQUEST_TIMEOUT_SECONDS),
    expected:
      "seconds from 0.1 to 3600: how long one S3 or SQS request may take, and may go without a byte (uploads get more time by size, SQS's long polls their wait)",
  },
  NETMON_GRAPH_API_SOURCE_TIMEOUT_SECONDS: {
    schema: timeout(0.1, 600).default(10),
    expected:
      'seconds from 0.1 to 600: how long a graph API request waits for S3 or Prometheus before it answers 504 (and /healthz reports the source failing)',
  },
  NETMON_GRAPH_API_RENDER_CACHE_MIB: {
    schema: seconds(1, 4096).default(32),
    expected: 'MiB from 1 to 4096: the most drawn views the graph API keeps for reuse',
  },
  NETMON_GRAPH_API_MAX_RENDERS: {
    schema: seconds(1, 64).default(1),
    expected:
      'how many views the graph API draws at once, 1 to 64 (a layout holds the one JavaScript thread: more is not faster, it holds more models in memory)',
  },
  NETMON_GRAPH_API_RENDER_QUEUE: {
    schema: seconds(0, 1000).default(8),
    expected:
      'how many more views may wait to be drawn, 0 to 1000, before requests are answered 503 with Retry-After',
  },
} as const;

type Settings = typeof SETTINGS;
const SECRET_KEYS = new Set<string>(['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);
// A malformed URL may still hold user:pass where the URL parser cannot see it: shown redacted.
const URL_KEYS = new Set<string>(
  Object.entries(SETTINGS)
    .filter(([, { schema }]) => (schema instanceof z.ZodOptional ? schema.unwrap() : schema) === url)
    .map(([key]) => key),
);

/** A bad value as a config error may show it. */
function shownValue(key: string, raw: unknown): unknown {
  if (raw === undefined) return raw;
  if (SECRET_KEYS.has(key)) return '[redacted]';
  return URL_KEYS.has(key) ? redactUrl(String(raw)) : raw;
}

export const CREDENTIAL_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;
/** Optional: absent keys leave the SDK's default credential chain. */
export type CredentialSettings = Partial<Pick<Config, (typeof CREDENTIAL_KEYS)[number]>>;

/** Static credentials for an SDK client when configured; undefined leaves the SDK's default chain. */
export function staticCredentials(
  settings: CredentialSettings,
): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined {
  if (settings.AWS_ACCESS_KEY_ID === undefined || settings.AWS_SECRET_ACCESS_KEY === undefined)
    return undefined;
  return {
    accessKeyId: settings.AWS_ACCESS_KEY_ID,
    secretAccessKey: settings.AWS_SECRET_ACCESS_KEY,
    ...(settings.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: settings.AWS_SESSION_TOKEN }),
  };
}
export type Config = Readonly<{ [K in keyof Settings]: z.output<Settings[K]['schema']> }>;
export type ConfigKey = keyof Settings;

/** The `credentials` option of an SDK client: present only when static credentials are configured. */
export function credentialsOption(settings: CredentialSettings): {
  credentials?: NonNullable<ReturnType<typeof staticCredentials>>;
} {
  const credentials = staticCredentials(settings);
  return credentials === undefined ? {} : { credentials };
}

/** Absent: the defaults of NETMON_CONNECT_TIMEOUT_SECONDS and NETMON_REQUEST_TIMEOUT_SECONDS. */
export type TimeoutSettings = Partial<
  Pick<Config, 'NETMON_CONNECT_TIMEOUT_SECONDS' | 'NETMON_REQUEST_TIMEOUT_SECONDS'>
>;

/**
 * The SDK's request handler options for these timeouts. The SDK waits
 * forever by default: an endpoint that accepts and never answers would hang
 * the caller. requestTimeout bounds a whole request (thrown, not only
 * warned, with throwOnRequestTimeout); socketTimeout bounds a silence.
 * `extraMs` is time a request may take by design (SQS's long poll).
 */
export function timeoutHandlerOptions(
  settings: TimeoutSettings,
  extraMs = 0,
): {
  connectionTimeout: number;
  requestTimeout: number;
  socketTimeout: number;
  throwOnRequestTimeout: true;
} {
  const requestMs = (settings.NETMON_REQUEST_TIMEOUT_SECONDS ?? DEFAULT_REQUEST_TIMEOUT_SECONDS) * 1000;
  return {
    connectionTimeout: (settings.NETMON_CONNECT_TIMEOUT_SECONDS ?? DEFAULT_CONNECT_TIMEOUT_SECONDS) * 1000,
    requestTimeout: requestMs + extraMs,
    socketTimeout: requestMs + extraMs,
    throwOnRequestTimeout: true,
  };
}

function fileSettings(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const path = env.NETMON_CONFIG_FILE;
  if (!path) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('NETMON_CONFIG_FILE', path, `a readable JSON file (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('NETMON_CONFIG_FILE', path, 'a JSON object whose keys are NETMON_* variable names');
  }
  const unknown = Object.keys(parsed).filter((key) => !(key in SETTINGS));
  if (unknown.length > 0) {
    throw new ConfigError(
      `NETMON_CONFIG_FILE ${path}`,
      unknown[0],
      `only known keys: ${Object.keys(SETTINGS).join(', ')}`,
    );
  }
  return Object.fromEntries(
    Object.entries(parsed).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
}

/**
 * Reads the settings `keys` (a function needs only its own; the probe does
 * not need Prometheus). Throws ConfigError for the first bad or missing one.
 */
export function loadConfig<K extends ConfigKey>(
  keys: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
): Pick<Config, K> {
  const fromFile = fileSettings(env);
  const config: Record<string, unknown> = {};
  for (const key of keys) {
    const setting = SETTINGS[key];
    const raw = env[key] !== undefined && env[key] !== '' ? env[key] : fromFile[key];
    const parsed = (setting.schema as z.ZodType).safeParse(raw === '' ? undefined : raw);
    if (!parsed.success) throw new ConfigError(key, shownValue(key, raw), setting.expected);
    config[key] = parsed.data;
  }
  return Object.freeze(config) as Pick<Config, K>;
}

/** Every known setting, for --help texts and docs. */
export function describeSettings(): Array<{ name: string; expected: string }> {
  return Object.entries(SETTINGS).map(([key, setting]) => ({ name: key, expected: setting.expected }));
}
