import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1Pod,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leftoversOf } from '../../infra/cluster/cleanup.ts';
import type { ClusterInfo } from '../../infra/cluster/cluster.ts';
import { helmBinary } from '../../infra/cluster/control-plane.ts';
import { type ClusterLayout, clusterLayout } from '../../infra/cluster/layout.ts';
import { type RunResult, runProcess, waitFor } from '../../layers/core/process.ts';
import type { TestRecord } from '../../layers/domain/record.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { LABELS, MANAGED_BY } from '../../layers/k8s/pods.ts';
import type { TestScheduleStatus } from '../../layers/k8s/testschedules.ts';
import { type PairMetrics, queryLatestPairs } from '../../layers/metrics/query.ts';
import { GRAPH_SET_FILES, type GraphSetFile, graphKey, resultPrefix } from '../../layers/store/keys.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';

/**
 * The Helm chart installed as a user installs it, on the local real cluster
 * (`npm run cluster -- up`: real kubelets, containerd, scheduler and
 * controller-manager, the Flent image from its Dockerfile, the embedded
 * stack): the real helm binary, the cluster's values file and a few --set.
 * Then nothing but the chart runs: the controller-manager fires the plan,
 * probe and render CronJobs at minute boundaries, the probe's test pods run
 * Flent between the nodes, the graph API Deployment serves the graphs.
 * One cluster for the file, removed in afterAll whatever happened.
 *
 * The schedule tests tcp_upload: its TCP data proves the pods' network and
 * shaping, and its ICMP series and the agent's fping reachability check prove
 * unprivileged ICMP in the hardened agent pod (no capability, no_new_privs:
 * datagram sockets through the nodes' ping_group_range).
 */

// A cold start builds hyperkube (~5 min) and the Flent image (~1 min).
const COLD_BUILD_MS = 40 * 60_000;
/** From `helm install` to a complete round: plan at the next minute, six tests, the status written. */
const ROUND_MS = 4 * 60_000;
/** After the round: render fires at the next minute boundary; the graph API re-reads every 15 s. */
const GRAPHS_MS = 100_000;
const CLI = ['functions/cli/main.ts', 'cluster'];
const CHART = fileURLToPath(new URL('../../k8s/netmon', import.meta.url));
const RELEASE = 'netmon';
const NAMESPACE = 'netmon';
const SCHEDULE = 'mesh';
const TEST = 'tcp_upload';
const NODES = ['node-1', 'node-2', 'node-3'];
const ALL_PAIRS = NODES.flatMap((src) => NODES.filter((dst) => dst !== src).map((dst) => `${src}>${dst}`));
/** What a user passes for a quick look: a schedule due every minute, the functions every minute. */
const SET_VALUES = [
  '--set-json',
  `schedules=${JSON.stringify([{ name: SCHEDULE, schedule: '* * * * *', test: TEST, length: 2, delay: 1 }])}`,
  '--set',
  'functions.probe.schedule=* * * * *',
  // Six tests of ~15 s in one probe run: the budget must hold the last one's start plus its 44 s margin.
  '--set',
  'functions.probe.budgetSeconds=150',
  '--set',
  'functions.render.schedule=* * * * *',
];

let out: string | undefined;
let info: ClusterInfo;
/** The cluster's names (for the leftovers check after down), once up has written cluster.json. */
let layout: ClusterLayout | undefined;
let core: CoreV1Api;
let batch: BatchV1Api;
let objects: CustomObjectsApi;
let rbac: RbacAuthorizationV1Api;
let store: ObjectStore;
let install: RunResult;
let installedAt: number;
let round: string;

const pairsOf = (items: ReadonlyArray<{ src: string; dst: string }>): string[] =>
  items.map((p) => `${p.src}>${p.dst}`).sort();

function cluster(args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return runProcess([process.execPath, ...CLI, ...args], {
    timeoutMs,
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
}

async function helm(args: readonly string[]): Promise<RunResult> {
  return runProcess([await helmBinary(), ...args], {
    timeoutMs: 120_000,
    env: { ...process.env, KUBECONFIG: info.kubeconfig },
  });
}

async function statusOf(name: string): Promise<TestScheduleStatus> {
  const object = (await objects.getNamespacedCustomObject({
    group: 'netmon.erigrid.eu',
    version: 'v1alpha1',
    namespace: NAMESPACE,
    plural: 'testschedules',
    name,
  })) as { status?: TestScheduleStatus };
  return object.status ?? {};
}

async function getText(key: string): Promise<string | undefined> {
  const bytes = await store.getBytes(key);
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
}

/** GET from inside node-1's network namespace, as a pod on the node would (Service ClusterIPs work there). */
async function fetchFromNode(url: string): Promise<{ status: number; type: string; body: string }> {
  const node = info.nodes[0];
  if (node === undefined) throw new Error('no node');
  const script = `const r = await fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(5000) });
process.stdout.write(JSON.stringify({ status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() }));`;
  const result = await runProcess(
    ['ip', 'netns', 'exec', node.netns, process.execPath, '--input-type=module', '-e', script],
    { timeoutMs: 15_000 },
  );
  if (result.exitCode !== 0) throw new Error(`fetch ${url} in ${node.netns}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout);
}

function podLine(pod: V1Pod): string {
  const states = (pod.status?.containerStatuses ?? []).map((c) => {
    const waiting = c.state?.waiting;
    const terminated = c.state?.terminated;
    if (waiting) return `${c.name}: waiting ${waiting.reason ?? ''} ${waiting.message ?? ''}`.trim();
    if (terminated)
      return `${c.name}: exit ${terminated.exitCode} ${terminated.reason ?? ''} ${terminated.message?.slice(0, 300) ?? ''}`.trim();
    return `${c.name}: ${c.ready ? 'ready' : 'running'}`;
  });
  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status !== 'True');
  return `  ${pod.metadata?.name} ${pod.status?.phase} on ${pod.spec?.nodeName ?? '-'}${
    unscheduled ? ` (unscheduled: ${unscheduled.message})` : ''
  }${states.length > 0 ? `; ${states.join('; ')}` : ''}`;
}

/** What CI needs to explain a failure: pods, jobs, CronJobs, the status, and the logs of the pods that matter. */
async function diagnostics(): Promise<string> {
  const lines: string[] = [];
  const attempt = async (what: string, body: () => Promise<void>): Promise<void> => {
    try {
      await body();
    } catch (err) {
      lines.push(`${what}: ${(err as Error).message}`);
    }
  };
  await attempt('status', async () => {
    lines.push(`TestSchedule ${SCHEDULE} status: ${JSON.stringify(await statusOf(SCHEDULE))}`);
  });
  await attempt('cronjobs', async () => {
    lines.push('CronJobs:');
    for (const c of (await batch.listNamespacedCronJob({ namespace: NAMESPACE })).items)
      lines.push(
        `  ${c.metadata?.name} last scheduled ${c.status?.lastScheduleTime?.toISOString() ?? 'never'}, active ${c.status?.active?.length ?? 0}`,
      );
  });
  await attempt('jobs', async () => {
    lines.push('Jobs:');
    for (const j of (await batch.listNamespacedJob({ namespace: NAMESPACE })).items) {
      const conditions = (j.status?.conditions ?? []).map((c) => `${c.type}=${c.status} ${c.reason ?? ''}`);
      lines.push(
        `  ${j.metadata?.name} active ${j.status?.active ?? 0} succeeded ${j.status?.succeeded ?? 0} failed ${j.status?.failed ?? 0} ${conditions.join(', ')}`,
      );
    }
  });
  await attempt('pods', async () => {
    const pods = (await core.listNamespacedPod({ namespace: NAMESPACE })).items;
    lines.push('Pods:', ...pods.map(podLine));
    // Logs: pods that failed or are not running well, and the newest run of each function.
    const newest = new Map<string, V1Pod>();
    for (const pod of pods) {
      const component = pod.metadata?.labels?.['app.kubernetes.io/component'] ?? '';
      const seen = newest.get(component);
      if (
        seen === undefined ||
        (seen.metadata?.creationTimestamp ?? 0) < (pod.metadata?.creationTimestamp ?? 0)
      )
        newest.set(component, pod);
    }
    const wanted = new Set([...pods.filter((p) => p.status?.phase !== 'Succeeded'), ...newest.values()]);
    for (const pod of wanted) {
      for (const container of pod.spec?.containers ?? []) {
        const name = pod.metadata?.name ?? '';
        await attempt(`logs of ${name}/${container.name}`, async () => {
          const log = await core.readNamespacedPodLog({
            name,
            namespace: NAMESPACE,
            container: container.name,
            tailLines: 25,
          });
          lines.push(`--- logs of ${name}/${container.name}:`, String(log).trimEnd());
        });
      }
    }
  });
  await attempt('results', async () => {
    const keys = await store.list(`results/${SCHEDULE}/`);
    for (const key of keys.slice(-6)) {
      const record = JSON.parse((await getText(key)) ?? '{}') as Partial<TestRecord>;
      lines.push(
        `result ${record.src}>${record.dst}: connectivity ${record.connectivity} ${record.reason ?? ''} ${record.message ?? ''} ${record.stderrTail?.slice(-300) ?? ''}`,
      );
    }
  });
  return lines.join('\n');
}

/** What a ServiceAccount did or may do, one line per call kind: "<group>/<resource>[/<sub>] <verb>". */
function callsOf(rules: readonly V1PolicyRule[]): string[] {
  return rules.flatMap((rule) =>
    (rule.apiGroups ?? []).flatMap((group) =>
      (rule.resources ?? []).flatMap((resource) => rule.verbs.map((verb) => `${group}/${resource} ${verb}`)),
    ),
  );
}

/** Every rule the chart's Roles and ClusterRoles give `account` (through the release's bindings). */
async function grantedTo(account: string): Promise<string[]> {
  const selector = { labelSelector: `app.kubernetes.io/instance=${RELEASE}` };
  const [bindings, clusterBindings] = await Promise.all([
    rbac.listNamespacedRoleBinding({ namespace: NAMESPACE, ...selector }),
    rbac.listClusterRoleBinding(selector),
  ]);
  const calls: string[] = [];
  for (const binding of [...bindings.items, ...clusterBindings.items]) {
    if (!binding.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === account)) continue;
    const { kind, name } = binding.roleRef;
    const role =
      kind === 'Role'
        ? await rbac.readNamespacedRole({ name, namespace: NAMESPACE })
        : await rbac.readClusterRole({ name });
    calls.push(...callsOf(role.rules ?? []));
  }
  return [...new Set(calls)].sort();
}

interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { apiGroup?: string; resource?: string; subresource?: string };
  responseStatus?: { code?: number };
}

/** The calls `account` made, from the API server's audit log, and those it was refused. */
async function auditedCalls(account: string): Promise<{ made: string[]; refused: string[] }> {
  const user = `system:serviceaccount:${NAMESPACE}:${account}`;
  const events = (await readFile(info.auditLog, 'utf8'))
    .split('\n')
    .filter((line) => line.includes(user))
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((e) => e.stage === 'ResponseComplete' && e.user.username === user && e.objectRef?.resource);
  const call = (e: AuditEvent): string => {
    const ref = e.objectRef ?? {};
    return `${ref.apiGroup ?? ''}/${ref.resource}${ref.subresource ? `/${ref.subresource}` : ''} ${e.verb}`;
  };
  const unique = (list: AuditEvent[]): string[] => [...new Set(list.map(call))].sort();
  return { made: unique(events), refused: unique(events.filter((e) => e.responseStatus?.code === 403)) };
}

/** Runs `body`; a failure carries the cluster's diagnostics in its message. */
async function explained<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await diagnostics()}`, { cause: err });
  }
}

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'netmon-chart-'));
  const up = await cluster(['up', '--nodes', String(NODES.length), '--out', out], COLD_BUILD_MS);
  if (up.exitCode !== 0) throw new Error(`cluster up failed: ${up.stderr.slice(-3000)}`);
  info = JSON.parse(await readFile(join(out, 'cluster.json'), 'utf8')) as ClusterInfo;
  layout = clusterLayout(
    info.supervisor.pid,
    out,
    info.nodes.map((n) => n.name),
  );
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromFile(info.kubeconfig);
  core = kubeconfig.makeApiClient(CoreV1Api);
  batch = kubeconfig.makeApiClient(BatchV1Api);
  objects = kubeconfig.makeApiClient(CustomObjectsApi);
  rbac = kubeconfig.makeApiClient(RbacAuthorizationV1Api);
  // The bucket as the chart reaches it, with the credentials of the Secret the values name.
  const secret = await core.readNamespacedSecret({ name: 'netmon-local-s3', namespace: NAMESPACE });
  const credential = (key: string): string => Buffer.from(secret.data?.[key] ?? '', 'base64').toString();
  store = storeFrom({
    NETMON_S3_BUCKET: info.endpoints.s3Bucket,
    NETMON_S3_ENDPOINT: info.endpoints.s3,
    AWS_ACCESS_KEY_ID: credential('AWS_ACCESS_KEY_ID'),
    AWS_SECRET_ACCESS_KEY: credential('AWS_SECRET_ACCESS_KEY'),
  });
  installedAt = Date.now();
  install = await helm(['install', RELEASE, CHART, '-n', NAMESPACE, '-f', info.values, ...SET_VALUES]);
  // As NOTES.txt says for test pods on the host network (kubectl label namespace ...).
  const namespace = await core.readNamespace({ name: NAMESPACE });
  namespace.metadata = {
    ...namespace.metadata,
    labels: { ...namespace.metadata?.labels, 'pod-security.kubernetes.io/enforce': 'privileged' },
  };
  await core.replaceNamespace({ name: NAMESPACE, body: namespace });
}, COLD_BUILD_MS);

afterAll(async () => {
  if (out === undefined) return;
  const down = await cluster(['down', '--out', out], 120_000);
  await rm(out, { recursive: true, force: true });
  expect(down.exitCode, down.stderr).toBe(0);
  if (layout !== undefined)
    expect(await leftoversOf(layout)).toEqual({ processes: [], mounts: [], cgroups: [], files: [] });
}, 180_000);

describe('the Helm chart on the local real cluster', () => {
  it('installs with the real helm, the cluster values and a few --set; the API server has nothing to warn about', async () => {
    // The pods reach the stack by DNS names, as in a user's cluster (CoreDNS, Services in netmon-stack).
    expect(await readFile(info.values, 'utf8')).toMatch(/endpoint: "?http:\/\/s3\.netmon-stack:9000/);
    expect(install.exitCode, install.stderr).toBe(0);
    expect(install.stdout).toContain('STATUS: deployed');
    expect(install.stdout).toContain(`is installed as release "${RELEASE}" in namespace "${NAMESPACE}"`);
    expect(install.stdout).toContain(`${SCHEDULE}: ${TEST} "* * * * *"`);
    // The API server's warnings (an unknown field in the CRD's schema, a deprecated API) come on stderr.
    expect(install.stderr).not.toMatch(/Warning/);
  });

  it(
    'completes a round within 4 minutes of the install: TestSchedule status 6/6, every pair done',
    async () => {
      // The status as first seen complete: with a round a minute, plan may open the next one right after.
      let status: Awaited<ReturnType<typeof statusOf>> = {};
      await explained(() =>
        waitFor(
          `TestSchedule ${SCHEDULE} to complete a round`,
          async () => {
            status = await statusOf(SCHEDULE);
            return status.lastCompletedRound !== undefined;
          },
          { timeoutMs: installedAt + ROUND_MS - Date.now(), intervalMs: 1000 },
        ),
      );
      round = status.lastCompletedRound?.id ?? '';
      await explained(async () =>
        expect(status).toMatchObject({
          lastCompletedRound: { id: round, total: 6, done: 6, failed: 0, skipped: 0 },
        }),
      );
      expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
      if (status.round === round) {
        expect(status.progress).toBe('6/6');
        expect(status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({
          status: 'False',
          reason: 'RoundComplete',
        });
      } else {
        // The next round opened in the same second: it is newer, and says it is open.
        expect(status.round && status.round > round, JSON.stringify(status)).toBe(true);
        expect(status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({
          status: 'True',
          reason: 'RoundOpen',
        });
      }
    },
    ROUND_MS + 30_000,
  );

  it('stores a result and a Flent archive per pair in S3, and the archives parse', async () => {
    const keys = await store.list(resultPrefix(SCHEDULE, round));
    const records = await Promise.all(
      keys.map(async (key) => JSON.parse((await getText(key)) ?? '{}') as TestRecord),
    );
    expect(pairsOf(records)).toEqual(ALL_PAIRS);
    for (const record of records) {
      expect(record.connectivity, `${record.src}>${record.dst}: ${record.message}`).toBe(1);
      const bytes = await store.getBytes(record.archiveKey ?? '');
      expect(bytes, `archive of ${record.src}>${record.dst}`).toBeDefined();
      const archive = parseArchive(bytes ?? new Uint8Array(), record.archiveKey ?? '');
      expect(archive.metadata.NAME).toBe(TEST);
      expect(archive.metadata.HOSTS).toContain(info.nodes.find((n) => n.name === record.dst)?.address);
      expect(
        record.summary?.latency['Ping (ms) ICMP']?.count,
        `ICMP of ${record.src}>${record.dst}`,
      ).toBeGreaterThan(0);
    }
  });

  it('has the 6 ordered pairs in Prometheus: connected, with the upload throughput', async () => {
    let pairs: PairMetrics[] = [];
    await explained(() =>
      waitFor(
        'six pairs in Prometheus',
        async () => {
          pairs = await queryLatestPairs(info.endpoints.prometheus ?? '', { schedule: SCHEDULE });
          return pairs.length === 6;
        },
        { timeoutMs: 30_000, intervalMs: 1000 },
      ),
    );
    expect(pairsOf(pairs)).toEqual(ALL_PAIRS);
    for (const pair of pairs) {
      expect(pair.connectivity, `${pair.src}>${pair.dst}`).toBe(1);
      expect(pair.test).toBe(TEST);
      expect(pair.throughput.src_to_dst?.mean, `${pair.src}>${pair.dst}`).toBeGreaterThan(0);
    }
  });

  it(
    'render writes the graphs to S3, with every node, its address and zone, and every pair',
    async () => {
      interface GraphJson {
        nodes: Array<{ name: string; address: string | null; labels: Record<string, string> }>;
        edges: Array<{ src: string; dst: string; connectivity: number | null }>;
      }
      let graph: GraphJson | undefined;
      await explained(() =>
        waitFor(
          'a render of the complete round',
          async () => {
            const text = await getText(graphKey('latest', 'json'));
            graph = text === undefined ? undefined : (JSON.parse(text) as GraphJson);
            return graph?.edges.filter((e) => e.connectivity === 1).length === 6;
          },
          { timeoutMs: GRAPHS_MS, intervalMs: 1000 },
        ),
      );
      expect(pairsOf(graph?.edges ?? [])).toEqual(ALL_PAIRS);
      const svg = (await getText(graphKey('latest', 'svg'))) ?? '';
      for (const node of info.nodes) {
        expect(graph?.nodes.find((n) => n.name === node.name)).toMatchObject({
          address: node.address,
          labels: expect.objectContaining({
            'topology.kubernetes.io/zone': node.labels['topology.kubernetes.io/zone'],
          }),
        });
        expect(svg).toContain(node.address);
      }
      for (const file of Object.keys(GRAPH_SET_FILES) as GraphSetFile[])
        expect(await store.getBytes(graphKey('latest', file)), file).toBeDefined();
    },
    GRAPHS_MS + 10_000,
  );

  it('the graph API Deployment answers through its Service: health, the graph of the round, the SVG', async () => {
    const service = await core.readNamespacedService({ name: `${RELEASE}-graph-api`, namespace: NAMESPACE });
    const base = `http://${service.spec?.clusterIP}:${service.spec?.ports?.[0]?.port}`;
    const health = await fetchFromNode(`${base}/healthz`);
    expect(health.status, health.body).toBe(200);
    let graph: { edges: Array<{ connectivity: number | null }> } | undefined;
    // The API re-reads graphs/latest/ every refreshSeconds (15 s).
    await explained(() =>
      waitFor(
        'the graph API to serve the complete round',
        async () => {
          const response = await fetchFromNode(`${base}/graph.json`);
          graph = response.status === 200 ? JSON.parse(response.body) : undefined;
          return graph?.edges.filter((e) => e.connectivity === 1).length === 6;
        },
        { timeoutMs: 30_000, intervalMs: 1000 },
      ),
    );
    const svg = await fetchFromNode(`${base}/graph.svg`);
    expect(svg.status).toBe(200);
    expect(svg.type).toContain('image/svg+xml');
    for (const node of info.nodes) expect(svg.body).toContain(node.address);
  }, 60_000);

  it("gives each function its own ServiceAccount, whose Role is exactly the calls the API server's audit log saw it make", async () => {
    for (const fn of ['plan', 'probe', 'render', 'sweep', 'graph-api']) {
      const account = `${RELEASE}-${fn}`;
      const { made, refused } = await auditedCalls(account);
      expect(refused, `${account} was refused`).toEqual([]);
      expect(await grantedTo(account), `${account}: granted vs. used`).toEqual(made);
    }
  });

  // Rounds are due every minute here, so the uninstall usually stops a probe mid-test, and deletes the
  // probe's RBAC at the same moment: the test pods go with the probe's pod, their owner.
  it('helm uninstall removes the release: its CronJobs, Jobs, Deployment, their pods and the test pods', async () => {
    const uninstall = await helm(['uninstall', RELEASE, '-n', NAMESPACE, '--wait']);
    expect(uninstall.exitCode, uninstall.stderr).toBe(0);
    await explained(() =>
      waitFor(
        'the release, its pods and the test pods to go',
        async () => {
          const selector = { namespace: NAMESPACE, labelSelector: `app.kubernetes.io/instance=${RELEASE}` };
          const [pods, testPods, jobs, cronJobs] = await Promise.all([
            core.listNamespacedPod(selector),
            core.listNamespacedPod({
              namespace: NAMESPACE,
              labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
            }),
            batch.listNamespacedJob(selector),
            batch.listNamespacedCronJob(selector),
          ]);
          return [pods, testPods, jobs, cronJobs].every((list) => list.items.length === 0);
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      ),
    );
  }, 90_000);
});
