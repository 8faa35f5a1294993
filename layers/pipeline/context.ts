import { CREDENTIAL_KEYS, loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { LocalRunner } from '../local-runner/runner.ts';
import { pushRecord } from '../metrics/push.ts';
import { makeSqsClient, WorkQueue } from '../queue/work-queue.ts';
import { makeS3Client, ObjectStore } from '../store/s3-store.ts';
import type { AgentDeps, AgentTask } from './agent.ts';
import { FileNodeSource, type NodeSource } from './nodes.ts';
import type { PlanDeps } from './plan.ts';
import type { ProbeDeps } from './probe.ts';
import type { RenderDeps } from './render.ts';
import { parseSchedules, type Schedule } from './schedules.ts';
import { FileTestLock } from './test-lock.ts';

/**
 * The composition root: settings read once, SDK clients built once, the
 * parts of each function wired together. Handlers call these and nothing
 * else touches the environment.
 */

const S3_KEYS = [
  'NETMON_S3_BUCKET',
  'NETMON_S3_ENDPOINT',
  'NETMON_S3_REGION',
  'NETMON_S3_FORCE_PATH_STYLE',
  'NETMON_S3_CHECKSUMS',
  ...CREDENTIAL_KEYS,
] as const;
const SQS_KEYS = [
  'NETMON_SQS_ENDPOINT',
  'NETMON_SQS_REGION',
  'NETMON_SQS_QUEUE_URL',
  'NETMON_VISIBILITY_TIMEOUT_SECONDS',
  ...CREDENTIAL_KEYS,
] as const;

export function storeFrom(env: NodeJS.ProcessEnv = process.env): ObjectStore {
  const config = loadConfig(S3_KEYS, env);
  return new ObjectStore(makeS3Client(config), config);
}

function queueFrom(env: NodeJS.ProcessEnv): WorkQueue {
  const config = loadConfig(SQS_KEYS, env);
  return new WorkQueue(
    makeSqsClient(config),
    config.NETMON_SQS_QUEUE_URL,
    config.NETMON_VISIBILITY_TIMEOUT_SECONDS,
  );
}

function nodesFrom(env: NodeJS.ProcessEnv): NodeSource {
  const { NETMON_NODES_FILE } = loadConfig(['NETMON_NODES_FILE'], env);
  if (NETMON_NODES_FILE === undefined) {
    throw new ConfigError(
      'NETMON_NODES_FILE',
      undefined,
      'a path to a JSON list of nodes (the local runner needs one)',
    );
  }
  return new FileNodeSource(NETMON_NODES_FILE);
}

export function schedulesFrom(env: NodeJS.ProcessEnv = process.env): Schedule[] {
  const { NETMON_SCHEDULES } = loadConfig(['NETMON_SCHEDULES'], env);
  if (NETMON_SCHEDULES === undefined) {
    throw new ConfigError(
      'NETMON_SCHEDULES',
      undefined,
      'a JSON list of schedules [{"name","cron","test","lengthSeconds"}]',
    );
  }
  return parseSchedules(NETMON_SCHEDULES);
}

export function planDepsFrom(env: NodeJS.ProcessEnv = process.env): PlanDeps {
  return { store: storeFrom(env), queue: queueFrom(env), nodes: nodesFrom(env) };
}

export function probeDepsFrom(env: NodeJS.ProcessEnv = process.env): ProbeDeps {
  const config = loadConfig(
    ['NETMON_PUSHGATEWAY_URL', 'NETMON_LOCK_FILE', 'NETMON_WORK_DIR', 'NETMON_PROBE_BUDGET_SECONDS'],
    env,
  );
  return {
    store: storeFrom(env),
    queue: queueFrom(env),
    nodes: nodesFrom(env),
    runner: new LocalRunner({ workDir: config.NETMON_WORK_DIR }),
    lock: new FileTestLock(config.NETMON_LOCK_FILE),
    publish: async (record) => {
      await pushRecord(config.NETMON_PUSHGATEWAY_URL, record);
    },
    budgetSeconds: config.NETMON_PROBE_BUDGET_SECONDS,
  };
}

export function renderDepsFrom(env: NodeJS.ProcessEnv = process.env): RenderDeps {
  const config = loadConfig(
    [
      'NETMON_PROMETHEUS_URL',
      'NETMON_GRAPH_MAX_AGE_SECONDS',
      'NETMON_GRAPH_KEEP',
      'NETMON_CLUSTER_NAME',
      'NETMON_NODES_FILE',
    ],
    env,
  );
  return {
    store: storeFrom(env),
    prometheusUrl: config.NETMON_PROMETHEUS_URL,
    ...(config.NETMON_NODES_FILE === undefined
      ? {}
      : { nodes: new FileNodeSource(config.NETMON_NODES_FILE) }),
    clusterName: config.NETMON_CLUSTER_NAME,
    maxAgeSeconds: config.NETMON_GRAPH_MAX_AGE_SECONDS,
    keep: config.NETMON_GRAPH_KEEP,
  };
}

export function agentFrom(env: NodeJS.ProcessEnv = process.env): { deps: AgentDeps; task: AgentTask } {
  const config = loadConfig(
    [
      'NETMON_AGENT_HOST',
      'NETMON_AGENT_TEST',
      'NETMON_AGENT_LENGTH_SECONDS',
      'NETMON_AGENT_DELAY_SECONDS',
      'NETMON_AGENT_SCHEDULE',
      'NETMON_AGENT_SRC',
      'NETMON_AGENT_DST',
      'NETMON_TERMINATION_LOG',
      'NETMON_WORK_DIR',
    ],
    env,
  );
  return {
    deps: {
      store: storeFrom(env),
      terminationLog: config.NETMON_TERMINATION_LOG,
      workDir: config.NETMON_WORK_DIR,
    },
    task: {
      host: config.NETMON_AGENT_HOST,
      test: config.NETMON_AGENT_TEST,
      lengthSeconds: config.NETMON_AGENT_LENGTH_SECONDS,
      delaySeconds: config.NETMON_AGENT_DELAY_SECONDS,
      schedule: config.NETMON_AGENT_SCHEDULE,
      src: config.NETMON_AGENT_SRC,
      dst: config.NETMON_AGENT_DST,
    },
  };
}
