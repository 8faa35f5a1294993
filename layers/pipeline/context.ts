import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { CREDENTIAL_KEYS, loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { LeaseTestLock } from '../k8s/lease.ts';
import { KubeNodeSource } from '../k8s/nodes.ts';
import { KubernetesRunner } from '../k8s/runner.ts';
import { TestScheduleSource } from '../k8s/testschedules.ts';
import { LocalRunner } from '../local-runner/runner.ts';
import { pushRecord } from '../metrics/push.ts';
import { makeSqsClient, WorkQueue } from '../queue/work-queue.ts';
import { makeS3Client, ObjectStore } from '../store/s3-store.ts';
import type { AgentDeps, AgentTask } from './agent.ts';
import { FileNodeSource, type NodeSource } from './nodes.ts';
import type { PlanDeps } from './plan.ts';
import type { ProbeDeps } from './probe.ts';
import type { RenderDeps } from './render.ts';
import { parseSchedules, type ScheduleSource } from './schedules.ts';
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

/** The Kubernetes API clients, from KUBECONFIG when set, else the pod's service account. */
function kubeFrom(env: NodeJS.ProcessEnv): KubeConfig {
  const kubeconfig = new KubeConfig();
  if (env.KUBECONFIG) kubeconfig.loadFromFile(env.KUBECONFIG);
  else kubeconfig.loadFromDefault();
  return kubeconfig;
}

function isKubernetes(env: NodeJS.ProcessEnv): boolean {
  return loadConfig(['NETMON_RUNNER'], env).NETMON_RUNNER === 'kubernetes';
}

function nodesFrom(env: NodeJS.ProcessEnv): NodeSource {
  if (isKubernetes(env)) {
    const { NETMON_NODE_SELECTOR } = loadConfig(['NETMON_NODE_SELECTOR'], env);
    const selector = Object.entries(NETMON_NODE_SELECTOR).map(([key, value]) => `${key}=${value}`);
    return new KubeNodeSource(
      kubeFrom(env).makeApiClient(CoreV1Api),
      selector.length === 0 ? undefined : selector.join(','),
    );
  }
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

function testSchedulesFrom(env: NodeJS.ProcessEnv): TestScheduleSource {
  const { NETMON_NAMESPACE } = loadConfig(['NETMON_NAMESPACE'], env);
  return new TestScheduleSource(kubeFrom(env).makeApiClient(CustomObjectsApi), {
    namespace: NETMON_NAMESPACE,
  });
}

/** Schedules: the TestSchedules of NETMON_NAMESPACE in a cluster, else the list in NETMON_SCHEDULES. */
export function schedulesFrom(env: NodeJS.ProcessEnv = process.env): ScheduleSource {
  if (isKubernetes(env)) return testSchedulesFrom(env);
  const { NETMON_SCHEDULES } = loadConfig(['NETMON_SCHEDULES'], env);
  if (NETMON_SCHEDULES === undefined) {
    throw new ConfigError(
      'NETMON_SCHEDULES',
      undefined,
      'a JSON list of schedules [{"name","cron","test","lengthSeconds"}]',
    );
  }
  const schedules = parseSchedules(NETMON_SCHEDULES);
  return { list: async () => schedules };
}

export function planDepsFrom(env: NodeJS.ProcessEnv = process.env): PlanDeps {
  return {
    store: storeFrom(env),
    queue: queueFrom(env),
    nodes: nodesFrom(env),
    ...(isKubernetes(env) ? { observer: testSchedulesFrom(env) } : {}),
  };
}

export function probeDepsFrom(env: NodeJS.ProcessEnv = process.env): ProbeDeps {
  const config = loadConfig(['NETMON_PUSHGATEWAY_URL', 'NETMON_PROBE_BUDGET_SECONDS'], env);
  return {
    store: storeFrom(env),
    queue: queueFrom(env),
    nodes: nodesFrom(env),
    ...(isKubernetes(env) ? kubernetesProbeParts(env) : localProbeParts(env)),
    publish: async (record) => {
      await pushRecord(config.NETMON_PUSHGATEWAY_URL, record);
    },
    budgetSeconds: config.NETMON_PROBE_BUDGET_SECONDS,
  };
}

function localProbeParts(env: NodeJS.ProcessEnv): Pick<ProbeDeps, 'runner' | 'lock'> {
  const config = loadConfig(['NETMON_LOCK_FILE', 'NETMON_WORK_DIR'], env);
  return {
    runner: new LocalRunner({ workDir: config.NETMON_WORK_DIR }),
    lock: new FileTestLock(config.NETMON_LOCK_FILE),
  };
}

/** Test pods in NETMON_NAMESPACE, one test at a time under a Lease, progress in the TestSchedule status. */
function kubernetesProbeParts(env: NodeJS.ProcessEnv): Pick<ProbeDeps, 'runner' | 'lock' | 'observer'> {
  const config = loadConfig(
    [
      'NETMON_NAMESPACE',
      'NETMON_POD_NAME',
      'NETMON_IMAGE',
      'NETMON_HOST_NETWORK',
      'NETMON_S3_CREDENTIALS_SECRET',
      'NETMON_SERVER_READY_TIMEOUT_SECONDS',
      ...S3_KEYS,
    ],
    env,
  );
  const kubeconfig = kubeFrom(env);
  // The agent in the client pod writes the archive itself: it gets the same bucket and endpoint.
  const s3Env: Record<string, string> = {
    NETMON_S3_BUCKET: config.NETMON_S3_BUCKET,
    NETMON_S3_REGION: config.NETMON_S3_REGION,
    NETMON_S3_FORCE_PATH_STYLE: String(config.NETMON_S3_FORCE_PATH_STYLE),
    NETMON_S3_CHECKSUMS: config.NETMON_S3_CHECKSUMS,
    ...(config.NETMON_S3_ENDPOINT === undefined ? {} : { NETMON_S3_ENDPOINT: config.NETMON_S3_ENDPOINT }),
  };
  return {
    runner: new KubernetesRunner(kubeconfig.makeApiClient(CoreV1Api), {
      namespace: config.NETMON_NAMESPACE,
      image: config.NETMON_IMAGE,
      hostNetwork: config.NETMON_HOST_NETWORK,
      ...(config.NETMON_S3_CREDENTIALS_SECRET === undefined
        ? {}
        : { s3CredentialsSecret: config.NETMON_S3_CREDENTIALS_SECRET }),
      s3Env,
      agentCommand: ['node', '/opt/netmon/agent.js'],
      slackSeconds: 60,
      serverReadyTimeoutSeconds: config.NETMON_SERVER_READY_TIMEOUT_SECONDS,
    }),
    lock: new LeaseTestLock(kubeconfig.makeApiClient(CoordinationV1Api), {
      namespace: config.NETMON_NAMESPACE,
      identity: config.NETMON_POD_NAME,
    }),
    observer: testSchedulesFrom(env),
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
