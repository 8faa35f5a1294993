import { join } from 'node:path';
import { CREDENTIAL_KEYS, loadConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import type { NodeSource } from '../domain/nodes.ts';
import type { ScheduleSource } from '../domain/schedule.ts';
import type { Sweeper } from '../domain/sweep.ts';
import type { ServerPorts } from '../domain/test-types.ts';
import { kubeClient, kubeconfigFrom } from '../k8s/kubeconfig.ts';
import type { TestScheduleSource } from '../k8s/testschedules.ts';
import { FileNodeSource } from '../local-runner/nodes.ts';
import type { AgentDeps, AgentTask } from '../pipeline/agent.ts';
import type { PlanDeps } from '../pipeline/plan.ts';
import type { ProbeDeps } from '../pipeline/probe.ts';
import type { RenderDeps } from '../pipeline/render.ts';
import type { SweepDeps } from '../pipeline/sweep.ts';
import { makeSqsClient, WorkQueue } from '../queue/work-queue.ts';
import { makeS3Client, ObjectStore } from '../store/s3-store.ts';

/**
 * The composition root: settings read once, SDK clients built once, the
 * parts of each function wired together. Handlers call these and nothing
 * else touches the environment.
 *
 * The Kubernetes client, the k8s layers, the local runner, the schedule
 * parser and the metrics push are loaded with `await import()` only on the
 * path that needs them: the agent never loads them, render and the graph
 * API only the node list in a cluster, plan and probe load one runner. In a
 * bundle that can reach them the code stays in the file but is not run until
 * needed; a bundle that cannot (the agent) leaves it out.
 */

/** Every S3 and SQS client gets connect and request timeouts. */
const TIMEOUT_KEYS = ['NETMON_CONNECT_TIMEOUT_SECONDS', 'NETMON_REQUEST_TIMEOUT_SECONDS'] as const;
const S3_KEYS = [
  'NETMON_S3_BUCKET',
  'NETMON_S3_ENDPOINT',
  'NETMON_S3_REGION',
  'NETMON_S3_FORCE_PATH_STYLE',
  'NETMON_S3_CHECKSUMS',
  ...CREDENTIAL_KEYS,
  ...TIMEOUT_KEYS,
] as const;
const SQS_KEYS = [
  'NETMON_SQS_ENDPOINT',
  'NETMON_SQS_REGION',
  'NETMON_SQS_QUEUE_URL',
  'NETMON_VISIBILITY_TIMEOUT_SECONDS',
  ...CREDENTIAL_KEYS,
  ...TIMEOUT_KEYS,
] as const;

/** The agent bundle in the Flent image: the test pods' client and the sweep pods run it. */
const AGENT_COMMAND = ['node', '/opt/netmon/agent.js'];

const PORT_KEYS = ['NETMON_NETSERVER_PORT', 'NETMON_IRTT_PORT'] as const;
function portsOf(config: { NETMON_NETSERVER_PORT: number; NETMON_IRTT_PORT: number }): ServerPorts {
  return { netserver: config.NETMON_NETSERVER_PORT, irtt: config.NETMON_IRTT_PORT };
}

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

function isKubernetes(env: NodeJS.ProcessEnv): boolean {
  return loadConfig(['NETMON_RUNNER'], env).NETMON_RUNNER === 'kubernetes';
}

async function nodesFrom(env: NodeJS.ProcessEnv): Promise<NodeSource> {
  if (isKubernetes(env)) {
    const { NETMON_NODE_SELECTOR } = loadConfig(['NETMON_NODE_SELECTOR'], env);
    const selector = Object.entries(NETMON_NODE_SELECTOR).map(([key, value]) => `${key}=${value}`);
    const [{ CoreV1Api }, { KubeNodeSource }, kubeconfig] = await Promise.all([
      kubeClient(),
      import('../k8s/nodes.ts'),
      kubeconfigFrom(env),
    ]);
    return new KubeNodeSource(
      kubeconfig.makeApiClient(CoreV1Api),
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

async function testSchedulesFrom(env: NodeJS.ProcessEnv): Promise<TestScheduleSource> {
  const { NETMON_NAMESPACE } = loadConfig(['NETMON_NAMESPACE'], env);
  const [{ CustomObjectsApi }, { TestScheduleSource }, kubeconfig] = await Promise.all([
    kubeClient(),
    import('../k8s/testschedules.ts'),
    kubeconfigFrom(env),
  ]);
  return new TestScheduleSource(kubeconfig.makeApiClient(CustomObjectsApi), { namespace: NETMON_NAMESPACE });
}

/** Schedules: the TestSchedules of NETMON_NAMESPACE in a cluster, else the list in NETMON_SCHEDULES. */
export async function schedulesFrom(env: NodeJS.ProcessEnv = process.env): Promise<ScheduleSource> {
  if (isKubernetes(env)) return testSchedulesFrom(env);
  const { NETMON_SCHEDULES } = loadConfig(['NETMON_SCHEDULES'], env);
  if (NETMON_SCHEDULES === undefined) {
    throw new ConfigError(
      'NETMON_SCHEDULES',
      undefined,
      'a JSON list of schedules [{"name","cron","test","lengthSeconds"}]',
    );
  }
  // cron-parser and luxon only where schedules are read.
  const { parseSchedules } = await import('../core/schedules.ts');
  const schedules = parseSchedules(NETMON_SCHEDULES);
  return { list: async () => schedules };
}

/**
 * Who hears how rounds go: the TestSchedule status in a cluster, and round
 * progress metrics (netmon_round_*, for the Grafana dashboard) when there is
 * a Pushgateway.
 */
async function roundObserverFrom(
  env: NodeJS.ProcessEnv,
  pushgatewayUrl: string | undefined,
): Promise<Pick<PlanDeps, 'observer'>> {
  const [status, testSchedules] = await Promise.all([
    import('../pipeline/status.ts'),
    isKubernetes(env) ? testSchedulesFrom(env) : undefined,
  ]);
  const observers = [
    ...(testSchedules === undefined ? [] : [testSchedules]),
    ...(pushgatewayUrl === undefined ? [] : [status.roundMetricsObserver(pushgatewayUrl)]),
  ];
  const [only, ...more] = observers;
  if (only === undefined) return {};
  return { observer: more.length === 0 ? only : status.allObservers(observers) };
}

export async function planDepsFrom(env: NodeJS.ProcessEnv = process.env): Promise<PlanDeps> {
  // plan needs no Pushgateway; with one it reports the rounds it opens.
  const pushgateway = env.NETMON_PUSHGATEWAY_URL
    ? loadConfig(['NETMON_PUSHGATEWAY_URL'], env).NETMON_PUSHGATEWAY_URL
    : undefined;
  return {
    store: storeFrom(env),
    queue: queueFrom(env),
    nodes: await nodesFrom(env),
    ...roundTimes(env),
    ...(await roundObserverFrom(env, pushgateway)),
    ...(pushgateway === undefined ? {} : { pruneGroups: groupPruner(pushgateway, env) }),
  };
}

function roundTimes(env: NodeJS.ProcessEnv): Pick<PlanDeps, 'requeueAfterSeconds' | 'roundDeadlineSeconds'> {
  const config = loadConfig(['NETMON_REQUEUE_AFTER_SECONDS', 'NETMON_ROUND_DEADLINE_SECONDS'], env);
  return {
    requeueAfterSeconds: config.NETMON_REQUEUE_AFTER_SECONDS,
    ...(config.NETMON_ROUND_DEADLINE_SECONDS === undefined
      ? {}
      : { roundDeadlineSeconds: config.NETMON_ROUND_DEADLINE_SECONDS }),
  };
}

function groupPruner(pushgateway: string, env: NodeJS.ProcessEnv): NonNullable<PlanDeps['pruneGroups']> {
  const { NETMON_GROUP_RETENTION_SECONDS: retentionSeconds } = loadConfig(
    ['NETMON_GROUP_RETENTION_SECONDS'],
    env,
  );
  return async (nodes, schedules, now) => {
    const { pruneGroups } = await import('../metrics/prune.ts');
    await pruneGroups(pushgateway, { nodes, schedules, retentionSeconds, now });
  };
}

export async function probeDepsFrom(env: NodeJS.ProcessEnv = process.env): Promise<ProbeDeps> {
  const config = loadConfig(
    ['NETMON_PUSHGATEWAY_URL', 'NETMON_PROBE_BUDGET_SECONDS', 'NETMON_STORE_RETRY_SECONDS'],
    env,
  );
  return {
    storeRetrySeconds: config.NETMON_STORE_RETRY_SECONDS,
    store: storeFrom(env),
    queue: queueFrom(env),
    nodes: await nodesFrom(env),
    ...(isKubernetes(env) ? await kubernetesProbeParts(env) : await localProbeParts(env)),
    ...(await roundObserverFrom(env, config.NETMON_PUSHGATEWAY_URL)),
    publish: async (record) => {
      // prom-client is loaded with the first finished test, not at start.
      const { pushRecord } = await import('../metrics/push.ts');
      await pushRecord(config.NETMON_PUSHGATEWAY_URL, record);
    },
    publishSolo: async (schedule, test, check) => {
      const { pushSolo } = await import('../metrics/solo.ts');
      await pushSolo(config.NETMON_PUSHGATEWAY_URL, schedule, test, check);
    },
    budgetSeconds: config.NETMON_PROBE_BUDGET_SECONDS,
  };
}

async function localProbeParts(
  env: NodeJS.ProcessEnv,
): Promise<Pick<ProbeDeps, 'runner' | 'locks' | 'spool'>> {
  const config = loadConfig(
    ['NETMON_LOCK_FILE', 'NETMON_WORK_DIR', 'NETMON_SPOOL_MAX_BYTES', ...PORT_KEYS],
    env,
  );
  const [{ LocalRunner }, { FileTestLocks }, { ResultSpool }] = await Promise.all([
    import('../local-runner/runner.ts'),
    import('../pipeline/test-lock.ts'),
    import('../pipeline/spool.ts'),
  ]);
  return {
    runner: new LocalRunner({ workDir: config.NETMON_WORK_DIR, ports: portsOf(config) }),
    // NETMON_LOCK_FILE for the cluster, a file beside it per node.
    locks: new FileTestLocks(config.NETMON_LOCK_FILE),
    // The archives are files on this host: while S3 is away they wait here for the next run.
    spool: new ResultSpool(join(config.NETMON_WORK_DIR, 'spool'), config.NETMON_SPOOL_MAX_BYTES),
  };
}

/** Test pods in NETMON_NAMESPACE, under Leases: the cluster's and one per node. */
async function kubernetesProbeParts(env: NodeJS.ProcessEnv): Promise<Pick<ProbeDeps, 'runner' | 'locks'>> {
  const config = loadConfig(
    [
      'NETMON_NAMESPACE',
      'NETMON_POD_NAME',
      'NETMON_IMAGE',
      'NETMON_HOST_NETWORK',
      'NETMON_S3_CREDENTIALS_SECRET',
      'NETMON_SERVER_READY_TIMEOUT_SECONDS',
      ...PORT_KEYS,
      ...S3_KEYS,
    ],
    env,
  );
  const [{ CoordinationV1Api, CoreV1Api }, { KubernetesRunner }, { LeaseTestLocks }, kubeconfig] =
    await Promise.all([
      kubeClient(),
      import('../k8s/runner.ts'),
      import('../k8s/lease.ts'),
      kubeconfigFrom(env),
    ]);
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
      ports: portsOf(config),
      agentCommand: AGENT_COMMAND,
      slackSeconds: 60,
      serverReadyTimeoutSeconds: config.NETMON_SERVER_READY_TIMEOUT_SECONDS,
      ownerPodName: config.NETMON_POD_NAME,
    }),
    locks: new LeaseTestLocks(kubeconfig.makeApiClient(CoordinationV1Api), {
      namespace: config.NETMON_NAMESPACE,
      identity: config.NETMON_POD_NAME,
    }),
  };
}

/**
 * sweep: the Ready nodes, a prober per node (processes in namespaces, or
 * pods), the newest manifest of each schedule (read only: which nodes are
 * in a bandwidth test) and the Pushgateway.
 */
export async function sweepDepsFrom(env: NodeJS.ProcessEnv = process.env): Promise<SweepDeps> {
  const { NETMON_PUSHGATEWAY_URL } = loadConfig(['NETMON_PUSHGATEWAY_URL'], env);
  const store = storeFrom(env);
  const [nodes, sweeper, { latestManifest }] = await Promise.all([
    nodesFrom(env),
    isKubernetes(env) ? kubernetesSweeper(env) : localSweeper(),
    import('../pipeline/round.ts'),
  ]);
  return {
    nodes,
    sweeper,
    rounds: async () => {
      const schedules = await (await schedulesFrom(env)).list();
      const manifests = await Promise.all(
        schedules.map((s) => latestManifest(store, s.name, { detail: false })),
      );
      return manifests.filter((m): m is NonNullable<typeof m> => m !== undefined);
    },
    publish: async (src, pairs, endedAt) => {
      const { pushSweep } = await import('../metrics/sweep.ts');
      await pushSweep(NETMON_PUSHGATEWAY_URL, src, pairs, endedAt);
    },
  };
}

async function localSweeper(): Promise<Sweeper> {
  const { LocalSweeper } = await import('../local-runner/sweep.ts');
  return new LocalSweeper();
}

/** One sweep pod per node in NETMON_NAMESPACE, the image and network of the test pods. */
async function kubernetesSweeper(env: NodeJS.ProcessEnv): Promise<Sweeper> {
  const config = loadConfig(
    ['NETMON_NAMESPACE', 'NETMON_POD_NAME', 'NETMON_IMAGE', 'NETMON_HOST_NETWORK'],
    env,
  );
  const [{ CoreV1Api }, { KubernetesSweeper }, kubeconfig] = await Promise.all([
    kubeClient(),
    import('../k8s/sweep.ts'),
    kubeconfigFrom(env),
  ]);
  return new KubernetesSweeper(kubeconfig.makeApiClient(CoreV1Api), {
    namespace: config.NETMON_NAMESPACE,
    image: config.NETMON_IMAGE,
    hostNetwork: config.NETMON_HOST_NETWORK,
    agentCommand: AGENT_COMMAND,
    ownerPodName: config.NETMON_POD_NAME,
  });
}

/** Where a graph's figures come from: Prometheus, the node list (addresses, zones), the title and staleness. */
export interface GraphInputs {
  prometheusUrl: string;
  nodes?: NodeSource;
  clusterName: string;
  maxAgeSeconds: number;
}

/** The settings render and the graph API share to draw a graph from Prometheus. */
export function graphInputsFrom(env: NodeJS.ProcessEnv = process.env): GraphInputs {
  const config = loadConfig(
    ['NETMON_PROMETHEUS_URL', 'NETMON_GRAPH_MAX_AGE_SECONDS', 'NETMON_CLUSTER_NAME', 'NETMON_NODES_FILE'],
    env,
  );
  // In a cluster the API's nodes (NETMON_NODE_SELECTOR's, as plan's), read each time a graph is drawn;
  // else a node file; without a node list the nodes are the names seen in the metrics, without addresses.
  const nodes: NodeSource | undefined = isKubernetes(env)
    ? { list: async () => (await nodesFrom(env)).list() }
    : config.NETMON_NODES_FILE === undefined
      ? undefined
      : new FileNodeSource(config.NETMON_NODES_FILE);
  return {
    prometheusUrl: config.NETMON_PROMETHEUS_URL,
    ...(nodes === undefined ? {} : { nodes }),
    clusterName: config.NETMON_CLUSTER_NAME,
    maxAgeSeconds: config.NETMON_GRAPH_MAX_AGE_SECONDS,
  };
}

export function renderDepsFrom(env: NodeJS.ProcessEnv = process.env): RenderDeps {
  const config = loadConfig(['NETMON_GRAPH_KEEP', 'NETMON_GRAPH_LINK_SECONDS'], env);
  return {
    store: storeFrom(env),
    ...graphInputsFrom(env),
    keep: config.NETMON_GRAPH_KEEP,
    ...(config.NETMON_GRAPH_LINK_SECONDS === undefined
      ? {}
      : { linkSeconds: config.NETMON_GRAPH_LINK_SECONDS }),
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
      'NETMON_NETSERVER_PORT',
    ],
    env,
  );
  return {
    deps: {
      store: storeFrom(env),
      terminationLog: config.NETMON_TERMINATION_LOG,
      workDir: config.NETMON_WORK_DIR,
      ...(env.NETMON_STORE_RETRY_SECONDS === undefined
        ? {}
        : { storeRetrySeconds: loadConfig(['NETMON_STORE_RETRY_SECONDS'], env).NETMON_STORE_RETRY_SECONDS }),
    },
    task: {
      host: config.NETMON_AGENT_HOST,
      test: config.NETMON_AGENT_TEST,
      lengthSeconds: config.NETMON_AGENT_LENGTH_SECONDS,
      delaySeconds: config.NETMON_AGENT_DELAY_SECONDS,
      schedule: config.NETMON_AGENT_SCHEDULE,
      src: config.NETMON_AGENT_SRC,
      dst: config.NETMON_AGENT_DST,
      netserverPort: config.NETMON_NETSERVER_PORT,
    },
  };
}

/** The sweep pod's agent (`agent.js sweep <peer addresses>`): where its report goes. */
export function sweepAgentFrom(env: NodeJS.ProcessEnv = process.env): { terminationLog: string } {
  return { terminationLog: loadConfig(['NETMON_TERMINATION_LOG'], env).NETMON_TERMINATION_LOG };
}
