import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  CoordinationV1Api,
  type CoreV1Api,
  CustomObjectsApi,
  dumpYaml,
  KubeConfig,
  type KubernetesObject,
  loadAllYaml,
  type V1ConfigMap,
  type V1CronJob,
  type V1EnvVar,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_NAMESPACE, S3_CREDENTIALS_SECRET } from '../../infra/cluster/cluster.ts';
import { helmBinary, tokenKubeConfig } from '../../infra/cluster/control-plane.ts';
import { type ManagedProcess, runProcess, waitFor } from '../../layers/core/process.ts';
import { isNetworkFailure } from '../../layers/domain/outcome.ts';
import type { TestRecord } from '../../layers/domain/record.ts';
import type { RoundManifest } from '../../layers/domain/round.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { nodeLeaseName } from '../../layers/k8s/lease.ts';
import { LABELS, MANAGED_BY } from '../../layers/k8s/pods.ts';
import type { TestScheduleStatus } from '../../layers/k8s/testschedules.ts';
import { queryLatestPairs } from '../../layers/metrics/query.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import {
  CLUSTER_UP_MS,
  removeImage,
  restoreImage,
  signalKubelet,
  startCluster,
  type TestCluster,
  waitReady,
} from '../helpers/cluster.ts';
import { startPlan, startProbe } from '../helpers/probes.ts';
import {
  clientRunning,
  overlappingRuns,
  runsOf,
  type TestPodWatch,
  watchTestPods,
} from '../helpers/test-pods.ts';
import { startToxiproxy, type ToxicProxy } from '../helpers/toxiproxy.ts';
import { serverSideApply } from '../k8s/apply.ts';

/**
 * The product as it runs in a cluster, on the local real cluster
 * (infra/cluster: three nodes with real kubelets and containerd, the real
 * scheduler and controller-manager, the embedded stack, the Flent image):
 * the Helm chart rendered and applied by server-side apply; plan and probe
 * run as the CronJobs' containers would (the bundles, the chart's ConfigMap
 * and env, the chart's ServiceAccount token, so a missing RBAC rule fails
 * here); the test pods are real pods. Faults are real: an image removed from
 * a node's containerd, a kubelet stopped or killed, a Node deleted (before
 * the probe, and while a test on it runs), a Pod Security label on the
 * namespace, the API server away from the probe (Toxiproxy between them).
 */
const NAMESPACE = CHART_NAMESPACE;
const RELEASE = 'netmon';
const CHART = fileURLToPath(new URL('../../k8s/netmon', import.meta.url));
const RATES = { 'node-1': 10e6, 'node-2': 20e6, 'node-3': 30e6 } as const;
const ALL_PAIRS = [
  'node-1>node-2',
  'node-1>node-3',
  'node-2>node-1',
  'node-2>node-3',
  'node-3>node-1',
  'node-3>node-2',
];
/** A kubelet stopped: the controller-manager's node-monitor-grace-period (20 s here) and a little. */
const NOT_READY_MS = 60_000;
/**
 * The API server away from the probe while a test runs. The probe's Leases
 * (30 s) renew every 10 s and are lost after 20 s without a renewal
 * (layers/k8s/lease.ts); each API call is retried for 30 s
 * (layers/k8s/retry.ts), its last try more than 25 s after its first. 8 s
 * away never costs a Lease, wherever it falls between renewals; 23 s always
 * does, and every call still gets through after it.
 */
const SHORT_OUTAGE_MS = 8_000;
const LONG_OUTAGE_MS = 23_000;

let cluster: TestCluster;
let store: ObjectStore;
let core: CoreV1Api;
let objects: CustomObjectsApi;
let dir: string;
/** The chart's Secrets as the kubelet would read them (the cluster's S3 credentials). */
let secrets: Record<string, Record<string, string>>;
/** The probe CronJob container's environment, as a kubelet would give it (pod name left to each run). */
let functionEnv: NodeJS.ProcessEnv;

const pairsOf = (items: ReadonlyArray<{ src: string; dst: string }>): string[] =>
  items.map((p) => `${p.src}>${p.dst}`).sort();

/** Each function's kubeconfig: its own ServiceAccount's token. */
const kubeconfigs: Record<string, string> = {};

/** `podName` is <release>-<function>-<n>, as the CronJobs name their pods: the function's token. */
function envOf(podName: string): NodeJS.ProcessEnv {
  const fn = podName.startsWith(`${RELEASE}-plan`) ? 'plan' : 'probe';
  return { ...functionEnv, KUBECONFIG: kubeconfigs[fn], NETMON_POD_NAME: podName };
}

/** Resolves a container's env the way the kubelet does, for the parts the chart uses. */
function resolveEnv(variables: readonly V1EnvVar[], podName: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of variables) {
    const from = variable.valueFrom;
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (from?.fieldRef?.fieldPath === 'metadata.namespace') env[variable.name] = NAMESPACE;
    else if (from?.fieldRef?.fieldPath === 'metadata.name') env[variable.name] = podName;
    else if (from?.secretKeyRef !== undefined) {
      const value = secrets[from.secretKeyRef.name ?? '']?.[from.secretKeyRef.key];
      if (value !== undefined) env[variable.name] = value;
      else if (from.secretKeyRef.optional !== true)
        throw new Error(`secret ${from.secretKeyRef.name}/${from.secretKeyRef.key} missing`);
    } else throw new Error(`env ${variable.name}: source not handled by this test`);
  }
  return env;
}

async function renderChart(values: unknown): Promise<string> {
  const valuesFile = join(dir, 'values.json');
  await writeFile(valuesFile, JSON.stringify(values));
  const helm = await helmBinary();
  const rendered = await runProcess([
    helm,
    'template',
    RELEASE,
    CHART,
    '--namespace',
    NAMESPACE,
    '--include-crds',
    '--values',
    valuesFile,
  ]);
  if (rendered.exitCode !== 0) throw new Error(`helm template failed: ${rendered.stderr}`);
  return rendered.stdout;
}

const scheduleApi = {
  group: 'netmon.erigrid.eu',
  version: 'v1alpha1',
  namespace: NAMESPACE,
  plural: 'testschedules',
};

async function statusOf(name: string): Promise<TestScheduleStatus> {
  const object = (await objects.getNamespacedCustomObject({ ...scheduleApi, name })) as {
    status?: TestScheduleStatus;
  };
  return object.status ?? {};
}

/** Makes `name` the only TestSchedule, as a user would with kubectl apply and delete. */
async function onlySchedule(name: string, spec: Record<string, unknown>): Promise<void> {
  const list = (await objects.listNamespacedCustomObject(scheduleApi)) as {
    items: Array<{ metadata: { name: string } }>;
  };
  for (const item of list.items)
    await objects.deleteNamespacedCustomObject({ ...scheduleApi, name: item.metadata.name });
  await objects.createNamespacedCustomObject({
    ...scheduleApi,
    body: { apiVersion: 'netmon.erigrid.eu/v1alpha1', kind: 'TestSchedule', metadata: { name }, spec },
  });
}

async function runPlan(): Promise<Array<{ schedule: string; action: string; round: string | null }>> {
  const planned = await startPlan(envOf('netmon-plan-1')).done;
  expect(planned.exitCode, planned.stderr).toBe(0);
  return JSON.parse(planned.stdout);
}

async function openRound(schedule: string): Promise<string> {
  const outcomes = await runPlan();
  const outcome = outcomes.find((o) => o.schedule === schedule);
  expect(outcome?.action).toBe('opened');
  return outcome?.round as string;
}

async function manifestOf(schedule: string): Promise<RoundManifest> {
  const manifest = await latestManifest(store, schedule);
  if (manifest === undefined) throw new Error(`no round for ${schedule}`);
  return manifest;
}

async function recordsOf(schedule: string, round: string): Promise<TestRecord[]> {
  const keys = await store.list(`results/${schedule}/${round}/`);
  return Promise.all(
    keys.map(
      async (key) => JSON.parse(Buffer.from((await store.getBytes(key)) ?? []).toString()) as TestRecord,
    ),
  );
}

async function testPodsLeft(): Promise<string[]> {
  const pods = await core.listNamespacedPod({
    namespace: NAMESPACE,
    labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
  });
  return pods.items.map((p) => p.metadata?.name ?? '');
}

/** `file` with its server replaced by `server` (same CA and token: Toxiproxy passes TLS through); its path. */
async function kubeconfigThrough(file: string, server: string): Promise<string> {
  const source = new KubeConfig();
  source.loadFromFile(file);
  const through = new KubeConfig();
  through.loadFromOptions({
    clusters: source.clusters.map((c) => ({ ...c, server })),
    users: source.users,
    contexts: source.contexts,
    currentContext: source.currentContext,
  });
  const path = `${file}.through-proxy`;
  await writeFile(path, through.exportConfig());
  return path;
}

/** The proxy refuses connections (and closes open ones) for `ms`, then takes them again. */
async function awayFor(proxy: ToxicProxy, ms: number): Promise<{ from: number; to: number }> {
  await proxy.down();
  const from = Date.now();
  try {
    await sleep(ms);
  } finally {
    await proxy.up();
  }
  return { from, to: Date.now() };
}

/** Sets (a string) or removes (undefined) node labels, as a user would with kubectl label. */
async function labelNode(name: string, labels: Record<string, string | undefined>): Promise<void> {
  const node = await core.readNode({ name });
  const merged: Record<string, string> = { ...node.metadata?.labels };
  for (const [key, value] of Object.entries(labels)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  await core.replaceNode({ name, body: { ...node, metadata: { ...node.metadata, labels: merged } } });
}

async function finishProbe(
  probe: ManagedProcess,
): Promise<{ tests: number; failures: number; skipped: number }> {
  const result = await probe.done;
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-k8s-pipeline-'));
  cluster = await startCluster({ nodes: 3, ratesMbit: [10, 20, 30] });
  core = cluster.core;
  objects = cluster.kubeconfig.makeApiClient(CustomObjectsApi);
  const secret = await core.readNamespacedSecret({ name: S3_CREDENTIALS_SECRET, namespace: NAMESPACE });
  secrets = {
    [S3_CREDENTIALS_SECRET]: Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString()]),
    ),
  };

  // The chart pointed at the cluster's embedded stack by address (cluster.json), not by the Service
  // names of values.yaml: plan and probe run on the host here, the agent on the nodes, both reach it so.
  const { endpoints } = cluster.info;
  const rendered = await renderChart({
    clusterName: 'local',
    schedules: [{ name: 'mesh', schedule: '* * * * *', test: 'tcp_upload', length: 2, delay: 1 }],
    s3: {
      bucket: endpoints.s3Bucket,
      endpoint: endpoints.s3,
      forcePathStyle: true,
      credentialsSecret: S3_CREDENTIALS_SECRET,
    },
    sqs: { queueUrl: endpoints.sqsQueueUrl, endpoint: endpoints.sqs, visibilityTimeoutSeconds: 30 },
    pushgateway: { url: endpoints.pushgateway },
    prometheus: { url: endpoints.prometheus },
    // Not needed here; its pod would only take the loaded host's CPU.
    graphApi: { enabled: false },
    // 15 s: a node's failed pull takes ~11 s here (its resolver times out), and a loaded host starts pods slowly.
    functions: { probe: { budgetSeconds: 300, serverReadyTimeoutSeconds: 15 } },
  });
  // The test runs plan and probe itself, as the CronJobs' containers would: the real CronJob
  // controller must not fire them as well, so they are applied suspended.
  const manifests = (loadAllYaml(rendered) as Array<KubernetesObject | null>)
    .filter((o): o is KubernetesObject => o !== null && typeof o === 'object' && 'kind' in o)
    .map((o) => (o.kind === 'CronJob' ? { ...o, spec: { ...(o as V1CronJob).spec, suspend: true } } : o));
  const applied = await serverSideApply(cluster.kubeconfig, manifests.map((o) => dumpYaml(o)).join('---\n'), {
    namespace: NAMESPACE,
  });

  // Each function authenticates as its own ServiceAccount of the chart: its RBAC is what it gets.
  const admin = cluster.kubeconfig.getCurrentCluster();
  const caData =
    admin?.caData ?? (admin?.caFile ? (await readFile(admin.caFile)).toString('base64') : undefined);
  for (const fn of ['plan', 'probe']) {
    const token = await core.createNamespacedServiceAccountToken({
      namespace: NAMESPACE,
      name: `${RELEASE}-${fn}`,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    kubeconfigs[fn] = join(dir, `${fn}.kubeconfig`);
    await writeFile(
      kubeconfigs[fn],
      tokenKubeConfig(admin?.server ?? '', caData, token.status?.token ?? '').exportConfig(),
    );
  }
  const configMap = applied.find((o): o is V1ConfigMap => o.kind === 'ConfigMap') as V1ConfigMap;
  const probeJob = applied.find(
    (o): o is V1CronJob => o.kind === 'CronJob' && (o.metadata?.name ?? '').endsWith('-probe'),
  ) as V1CronJob;
  const container = probeJob.spec?.jobTemplate.spec?.template.spec?.containers[0];
  functionEnv = {
    PATH: process.env.PATH,
    LOG_LEVEL: 'warn',
    ...configMap.data,
    ...resolveEnv(container?.env ?? [], 'probe'),
  };
  store = storeFrom(functionEnv);
}, CLUSTER_UP_MS);

afterAll(async () => {
  await cluster?.down();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 180_000);

describe('in a cluster: chart, TestSchedule, plan, probe', () => {
  it('runs a full round from the chart values: a result per pair, archives, metrics, status 6/6, rates within 10%', async () => {
    const round = await openRound('mesh');
    expect((await statusOf('mesh')).progress).toBe('0/6');
    const report = await finishProbe(startProbe(envOf('netmon-probe-1')));
    expect(report.tests).toBe(6);

    const records = await recordsOf('mesh', round);
    expect(pairsOf(records)).toEqual(ALL_PAIRS);
    for (const record of records) {
      expect(record.connectivity, `${record.src}>${record.dst}: ${record.message}`).toBe(1);
      const rate = RATES[record.src as keyof typeof RATES];
      const measured = record.summary?.throughput.upload.total?.mean ?? 0;
      expect(Math.abs(measured - rate) / rate, `${record.src}>${record.dst} ${measured}`).toBeLessThan(0.1);
      const archive = parseArchive((await store.getBytes(record.archiveKey ?? '')) ?? new Uint8Array());
      expect(archive.metadata.NAME).toBe('tcp_upload');
    }
    await waitFor(
      'every pair in Prometheus',
      async () =>
        (await queryLatestPairs(cluster.info.endpoints.prometheus ?? '', { schedule: 'mesh' })).length === 6,
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    const status = await statusOf('mesh');
    expect(status).toMatchObject({
      round,
      progress: '6/6',
      lastCompletedRound: { id: round, total: 6, done: 6, failed: 0, skipped: 0 },
    });
    expect(status.currentRound).toBeUndefined();
    expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    expect(status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({
      status: 'False',
      reason: 'RoundComplete',
    });
    expect(await testPodsLeft()).toEqual([]);
  }, 300_000);

  it('three probes started at once: the pods of different tests never overlap', async () => {
    await onlySchedule('parallel', { schedule: '* * * * *', test: 'ping', length: 2, delay: 1 });
    const round = await openRound('parallel');
    // One watch stream delivers events in the API server's commit order: exact ordering, no clock skew.
    const watch = await watchTestPods(cluster.kubeconfig, NAMESPACE);
    const { events } = watch;
    try {
      const probes = ['netmon-probe-a', 'netmon-probe-b', 'netmon-probe-c'].map((name) =>
        startProbe(envOf(name)),
      );
      const reports = await Promise.all(probes.map(finishProbe));
      expect(reports.reduce((sum, r) => sum + r.tests, 0)).toBe(6);
      // The probes really competed: more than one of them ran tests.
      expect(reports.filter((r) => r.tests > 0).length).toBeGreaterThanOrEqual(2);
      await waitFor(
        'the last deletion to be watched',
        () => events.filter((e) => e.type === 'DELETED').length >= 12,
      );
    } finally {
      watch.stop();
    }
    const records = await recordsOf('parallel', round);
    expect(pairsOf(records)).toEqual(ALL_PAIRS);
    // Each test's pods, from the first ADDED to the last DELETED, form one block: no other test's event inside.
    expect(runsOf(events)).toHaveLength(6);
    expect(overlappingRuns(events)).toEqual([]);
    // And from the records' clocks: every test ends before the next begins.
    const intervals = records
      .map((r) => [Date.parse(r.startTime), Date.parse(r.endTime)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < intervals.length; i++)
      expect(intervals[i]?.[0]).toBeGreaterThanOrEqual(intervals[i - 1]?.[1] ?? Infinity);
    expect((await statusOf('parallel')).progress).toBe('6/6');
  }, 300_000);

  it('a node whose image pulls fail: its tests time out with the reason, pods deleted, the round goes on', async () => {
    await onlySchedule('pulls', { schedule: '* * * * *', test: 'ping', length: 2, delay: 1 });
    // The Flent image gone from node-3's containerd: its kubelet must pull it, and no registry serves it here.
    const node3 = cluster.node('node-3');
    await removeImage(node3, cluster.flentImage);
    try {
      const round = await openRound('pulls');
      await finishProbe(startProbe(envOf('netmon-probe-1')));
      const records = await recordsOf('pulls', round);
      expect(pairsOf(records)).toEqual(ALL_PAIRS);
      for (const record of records) {
        if (record.src === 'node-3' || record.dst === 'node-3') {
          expect(record.connectivity).toBe(0);
          expect(record.reason).toBe(record.dst === 'node-3' ? 'server-missing' : 'timeout');
          expect(record.message).toContain('ErrImagePull');
        } else expect(record.connectivity, `${record.src}>${record.dst}: ${record.message}`).toBe(1);
      }
      const status = await statusOf('pulls');
      expect(status.lastCompletedRound).toMatchObject({ id: round, total: 6, done: 2, failed: 4 });
      expect(await testPodsLeft()).toEqual([]);
    } finally {
      await restoreImage(node3, cluster.flentImage);
    }
  }, 300_000);

  it('a node marked NotReady mid-round: its remaining pairs are skipped with that reason, the rest complete', async () => {
    await onlySchedule('notready', { schedule: '* * * * *', test: 'ping', length: 2, delay: 1 });
    const round = await openRound('notready');
    const node3 = cluster.node('node-3');
    // A first probe whose budget holds one test (2 s + 2 × 1 s delay + 40 s overhead = 44 s): it runs
    // one pair and gives the next message back. The round is then open with node-3 Ready at plan time.
    const first = await finishProbe(
      startProbe({ ...envOf('netmon-probe-1'), NETMON_PROBE_BUDGET_SECONDS: '45' }),
    );
    expect(first.tests).toBe(1);
    const notDone = (await manifestOf('notready')).pairs
      .filter((p) => p.state !== 'done')
      .map((p) => `${p.src}>${p.dst}`);
    expect(notDone).toHaveLength(5);
    let probe: ManagedProcess | undefined;
    try {
      // Its kubelet stopped: no Lease renewals, and the node lifecycle controller marks the node NotReady.
      signalKubelet(node3, 'SIGSTOP');
      await waitReady(core, 'node-3', false, NOT_READY_MS);
      probe = startProbe(envOf('netmon-probe-2'));
      const report = await finishProbe(probe);
      const manifest = await manifestOf('notready');
      expect(manifest.round).toBe(round);
      expect(manifest.closedAt).not.toBeNull();
      const ofNode3 = (p: { src: string; dst: string }): boolean => p.src === 'node-3' || p.dst === 'node-3';
      const wasLeft = (p: { src: string; dst: string }): boolean => notDone.includes(`${p.src}>${p.dst}`);
      // Four of six pairs are on node-3: at least three of them were left after the first test.
      expect(manifest.pairs.filter((p) => ofNode3(p) && wasLeft(p)).length).toBeGreaterThanOrEqual(3);
      for (const pair of manifest.pairs) {
        if (ofNode3(pair) && wasLeft(pair))
          expect(pair, `${pair.src}>${pair.dst}`).toMatchObject({
            state: 'skipped',
            reason: 'node node-3 is not Ready',
          });
        else expect(pair.state, `${pair.src}>${pair.dst}`).toBe('done');
      }
      const skipped = manifest.pairs.filter((p) => p.state === 'skipped');
      expect(report.skipped).toBe(skipped.length);
      const status = await statusOf('notready');
      expect(status.lastCompletedRound).toMatchObject({ total: 6, skipped: skipped.length });
      expect(status.progress).toBe('6/6');
    } finally {
      await probe?.stop();
      signalKubelet(node3, 'SIGCONT');
      // Also after a failed assertion: the next tests plan with node-3.
      await waitReady(core, 'node-3', true, NOT_READY_MS);
    }
  }, 300_000);

  it('the API server away mid-test (Toxiproxy before it): 8 s is waited out, 23 s costs the Leases: a result or a lock-lost skip per pair, pods deleted, no overlap, Leases free', async () => {
    // zone-a: node-1 and node-3, two pairs.
    await onlySchedule('apiaway', {
      schedule: '* * * * *',
      test: 'ping',
      length: 5,
      delay: 1,
      nodeSelector: { 'topology.kubernetes.io/zone': 'zone-a' },
    });
    const round = await openRound('apiaway');
    const toxiproxy = await startToxiproxy();
    let watch: TestPodWatch | undefined;
    let probe: ManagedProcess | undefined;
    try {
      const api = await toxiproxy.proxy(
        'kube-apiserver',
        cluster.kubeconfig.getCurrentCluster()?.server ?? '',
      );
      watch = await watchTestPods(cluster.kubeconfig, NAMESPACE);
      // Only the probe goes through the proxy: kubelets, controllers, plan and this test reach the API server directly.
      const kubeconfig = await kubeconfigThrough(kubeconfigs.probe as string, api.url);
      probe = startProbe({ ...envOf('netmon-probe-1'), KUBECONFIG: kubeconfig });
      const alive = (): boolean => probe?.running === true;
      // The first test: away for longer than a Lease outlives. The second: away for less.
      const lost = await clientRunning(watch, 'apiaway', 0, alive);
      await awayFor(api, LONG_OUTAGE_MS);
      const kept = await clientRunning(watch, 'apiaway', 1, alive);
      const short = await awayFor(api, SHORT_OUTAGE_MS);
      const report = await finishProbe(probe);
      expect(report).toMatchObject({ tests: 1, failures: 0, skipped: 1 });

      const manifest = await manifestOf('apiaway');
      expect(manifest.round).toBe(round);
      expect(manifest.closedAt).not.toBeNull();
      const pairOf = (p: { src: string; dst: string }) =>
        manifest.pairs.find((q) => q.src === p.src && q.dst === p.dst);
      // Not alone on its nodes to the end (another probe could have taken them over): no result, a reason.
      expect(pairOf(lost)).toMatchObject({
        state: 'skipped',
        reason: expect.stringMatching(
          new RegExp(
            `^lock-lost: lost the test lease ${NAMESPACE}/netmon-test\\S*: not renewed for 2\\d s \\(API server unreachable\\?\\)$`,
          ),
        ),
      });
      expect(pairOf(kept)).toMatchObject({ state: 'done', connectivity: 1 });
      // One result in all: the kept test's, finished after the API server came back.
      const records = await recordsOf('apiaway', round);
      expect(pairsOf(records)).toEqual([`${kept.src}>${kept.dst}`]);
      expect(records[0]).toMatchObject({ connectivity: 1, reason: null });
      expect(Date.parse(records[0]?.endTime ?? '')).toBeGreaterThan(short.to);
      expect(await testPodsLeft()).toEqual([]);
      const { events } = watch;
      await waitFor(
        'the last deletion to be watched',
        () => events.filter((e) => e.type === 'DELETED').length >= 4,
      );
      expect(runsOf(events, 'apiaway')).toHaveLength(2);
      // The lost test's pods were gone before the next test's first one came.
      expect(overlappingRuns(events)).toEqual([]);
      // Retaken by the same probe for the second test, then released: free for the next probe at once.
      const coordination = cluster.kubeconfig.makeApiClient(CoordinationV1Api);
      for (const name of ['netmon-test', nodeLeaseName('node-1'), nodeLeaseName('node-3')]) {
        const lease = await coordination.readNamespacedLease({ name, namespace: NAMESPACE });
        expect(lease.spec?.holderIdentity, name).toBeUndefined();
      }
    } finally {
      watch?.stop();
      await probe?.stop();
      await toxiproxy.stop();
    }
  }, 180_000);

  it('reports in the status what keeps a schedule from running: no matching node, a cron the parser refuses', async () => {
    await onlySchedule('nowhere', {
      schedule: '* * * * *',
      test: 'ping',
      length: 2,
      nodeSelector: { 'topology.kubernetes.io/zone': 'nowhere' },
    });
    // Five fields pass the CRD's pattern; minute 99 is for the cron parser to refuse.
    await objects.createNamespacedCustomObject({
      ...scheduleApi,
      body: {
        apiVersion: 'netmon.erigrid.eu/v1alpha1',
        kind: 'TestSchedule',
        metadata: { name: 'badcron' },
        spec: { schedule: '99 * * * *', test: 'ping' },
      },
    });
    const outcomes = await runPlan();
    expect(outcomes.map((o) => [o.schedule, o.action])).toEqual([['nowhere', 'too-few-nodes']]);
    expect((await statusOf('nowhere')).conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'NoMatchingNodes',
      message: expect.stringContaining('topology.kubernetes.io/zone=nowhere'),
    });
    expect((await statusOf('badcron')).conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message: expect.stringContaining('spec.schedule'),
    });
  }, 120_000);

  it('a node deleted after the round opened: its pairs are skipped as gone, the others measured', async () => {
    await onlySchedule('deleted', { schedule: '* * * * *', test: 'ping', length: 2, delay: 1 });
    const round = await openRound('deleted');
    // The machine goes away: its kubelet dies and the Node object is deleted. (Last user of node-3.)
    signalKubelet(cluster.node('node-3'), 'SIGKILL');
    await core.deleteNode({ name: 'node-3' });
    const report = await finishProbe(startProbe(envOf('netmon-probe-1')));
    expect(report).toMatchObject({ tests: 2, skipped: 4 });
    const manifest = await manifestOf('deleted');
    expect(manifest.round).toBe(round);
    expect(manifest.closedAt).not.toBeNull();
    for (const pair of manifest.pairs) {
      if (pair.src === 'node-3' || pair.dst === 'node-3')
        expect(pair).toMatchObject({ state: 'skipped', reason: 'node node-3 is gone' });
      else expect(pair.state).toBe('done');
    }
    expect((await statusOf('deleted')).lastCompletedRound).toMatchObject({
      id: round,
      total: 6,
      done: 2,
      skipped: 4,
    });
    expect(await testPodsLeft()).toEqual([]);
  }, 120_000);

  it('a namespace whose Pod Security label refuses hostNetwork pods: the probe fails naming the label, no pod left, lease released', async () => {
    await onlySchedule('baseline', { schedule: '* * * * *', test: 'ping', length: 2, delay: 1 });
    await openRound('baseline');
    const label = 'pod-security.kubernetes.io/enforce';
    const setLabel = async (value: string | undefined): Promise<void> => {
      const namespace = await core.readNamespace({ name: NAMESPACE });
      const labels = { ...namespace.metadata?.labels };
      if (value === undefined) delete labels[label];
      else labels[label] = value;
      await core.replaceNamespace({
        name: NAMESPACE,
        body: { ...namespace, metadata: { ...namespace.metadata, labels } },
      });
    };
    await setLabel('baseline');
    try {
      const result = await startProbe(envOf('netmon-probe-1')).done;
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(
        `probe: namespace ${NAMESPACE} refuses the test pods: its label ${label}=baseline`,
      );
      expect(result.stderr).toContain('hostNetwork');
      expect(await testPodsLeft()).toEqual([]);
      const lease = await cluster.kubeconfig
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: 'netmon-test', namespace: NAMESPACE });
      expect(lease.spec?.holderIdentity).toBeUndefined();
    } finally {
      await setLabel(undefined);
    }
  }, 120_000);
  it('a node deleted while its test runs (kubelet killed, Node deleted): that pair a tool-error naming the node, not a network failure; pods deleted; the next pair skipped as gone', async () => {
    // Last in the file: node-2 stays gone (a kubelet registers its Node only when it starts, and this one is killed).
    const group = 'netmon.erigrid.eu/test-group';
    await labelNode('node-1', { [group]: 'node-lost' });
    await labelNode('node-2', { [group]: 'node-lost' });
    const watch = await watchTestPods(cluster.kubeconfig, NAMESPACE);
    let probe: ManagedProcess | undefined;
    try {
      await onlySchedule('nodelost', {
        schedule: '* * * * *',
        test: 'ping',
        length: 10,
        delay: 1,
        nodeSelector: { [group]: 'node-lost' },
      });
      const round = await openRound('nodelost');
      probe = startProbe(envOf('netmon-probe-1'));
      const alive = (): boolean => probe?.running === true;
      // Whichever pair comes first has node-2 at one end: the machine goes away under its test.
      const first = await clientRunning(watch, 'nodelost', 0, alive);
      signalKubelet(cluster.node('node-2'), 'SIGKILL');
      await core.deleteNode({ name: 'node-2' });
      const deletedAt = Date.now();
      const report = await finishProbe(probe);
      // The Pod Security test's probe failed and left its two pairs queued: this probe has them too
      // (tested before node-2 went, skipped after), beside this round's two.
      expect(report.failures).toBe(1);

      const records = await recordsOf('nodelost', round);
      expect(pairsOf(records)).toEqual([`${first.src}>${first.dst}`]);
      const record = records[0] as TestRecord;
      // The test broke, it found nothing about the network: not measured (null), not connectivity 0.
      expect(record).toMatchObject({
        reason: 'tool-error',
        connectivity: null,
        summary: null,
        // Found while the runner waited for the test to end (or, by a hair, for its client pod to start).
        message: expect.stringMatching(
          /^node node-2 is gone \(found while the (test|client pod on node-\d) ran\): the test measured nothing$/,
        ),
      });
      expect(isNetworkFailure(record.reason)).toBe(false);
      // Seen at the runner's next look at the nodes (every 2 s), not at the client pod's deadline (~80 s).
      expect(Date.parse(record.endTime) - deletedAt).toBeLessThan(15_000);
      const manifest = await manifestOf('nodelost');
      expect(manifest.round).toBe(round);
      expect(manifest.closedAt).not.toBeNull();
      for (const pair of manifest.pairs) {
        if (pair.src === first.src && pair.dst === first.dst)
          expect(pair).toMatchObject({ state: 'failed', reason: 'tool-error', connectivity: null });
        else expect(pair).toMatchObject({ state: 'skipped', reason: 'node node-2 is gone' });
      }
      expect((await statusOf('nodelost')).lastCompletedRound).toMatchObject({
        id: round,
        total: 2,
        failed: 1,
        skipped: 1,
      });
      // node-2's pod too, though no kubelet is left there to confirm its end.
      expect(await testPodsLeft()).toEqual([]);
      await waitFor('the last deletion to be watched', () =>
        runsOf(watch.events).every(
          (run) => watch.events.findLast((e) => e.runId === run)?.type === 'DELETED',
        ),
      );
      expect(overlappingRuns(watch.events)).toEqual([]);
    } finally {
      watch.stop();
      await probe?.stop();
      await labelNode('node-1', { [group]: undefined });
    }
  }, 120_000);
});
