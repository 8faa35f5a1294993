import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubernetesObject,
  type V1ConfigMap,
  type V1CronJob,
  type V1EnvVar,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, helmBinary, startControlPlane } from '../../infra/cluster/control-plane.ts';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { type ManagedProcess, runProcess, waitFor } from '../../layers/core/process.ts';
import type { TestRecord } from '../../layers/domain/record.ts';
import type { RoundManifest } from '../../layers/domain/round.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { LABELS, MANAGED_BY } from '../../layers/k8s/pods.ts';
import type { TestScheduleStatus } from '../../layers/k8s/testschedules.ts';
import { queryLatestPairs } from '../../layers/metrics/query.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe } from '../helpers/probes.ts';
import { serverSideApply } from '../k8s/apply.ts';
import { NodeSimulator } from '../k8s/node-simulator.ts';

/**
 * The product as it runs in a cluster: the Helm chart rendered and applied
 * by server-side apply to a real kube-apiserver; plan and probe run as the
 * CronJobs' containers would (the bundles, the chart's ConfigMap and env,
 * the chart's ServiceAccount token, so a missing RBAC rule fails here); test
 * pods run by the node simulator inside the rig's namespaces; real s3rver,
 * local-aws-sqs, Pushgateway and Prometheus.
 */
const NAMESPACE = 'netmon';
const RELEASE = 'netmon';
const IMAGE_REPOSITORY = 'ghcr.io/erigrid/k8s-netmon';
const CHART = fileURLToPath(new URL('../../k8s/netmon', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const RATES = { 'node-a': 10e6, 'node-b': 20e6, 'node-c': 30e6 } as const;
const ALL_PAIRS = [
  'node-a>node-b',
  'node-a>node-c',
  'node-b>node-a',
  'node-b>node-c',
  'node-c>node-a',
  'node-c>node-b',
];
const SECRETS: Record<string, Record<string, string>> = {
  // s3rver's fixed credentials: not a secret, a local test server's.
  'netmon-s3': { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
};

let controlPlane: ControlPlane;
let cluster: SimCluster;
let fixture: StackFixture;
let simulator: NodeSimulator;
let store: ObjectStore;
let core: CoreV1Api;
let objects: CustomObjectsApi;
let dir: string;
/** The probe CronJob container's environment, as a kubelet would give it (pod name left to each run). */
let functionEnv: NodeJS.ProcessEnv;

const pairsOf = (items: ReadonlyArray<{ src: string; dst: string }>): string[] =>
  items.map((p) => `${p.src}>${p.dst}`).sort();

function envOf(podName: string): NodeJS.ProcessEnv {
  return { ...functionEnv, NETMON_POD_NAME: podName };
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
      const value = SECRETS[from.secretKeyRef.name ?? '']?.[from.secretKeyRef.key];
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

async function finishProbe(probe: ManagedProcess): Promise<{ tests: number; skipped: number }> {
  const result = await probe.done;
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-k8s-pipeline-'));
  controlPlane = await startControlPlane();
  core = controlPlane.kubeconfig.makeApiClient(CoreV1Api);
  objects = controlPlane.kubeconfig.makeApiClient(CustomObjectsApi);
  cluster = await SimCluster.create({
    nodes: Object.entries(RATES).map(([name, rate], i) => ({
      name,
      rateBitsPerSecond: rate,
      zone: `z${i}`,
      region: 'r',
    })),
    hostAddress: true,
  });
  // Pods in the node namespaces reach S3 on the rig's host address; the functions reach it from the host.
  fixture = await startStackFixture({
    visibilityTimeoutSeconds: 30,
    s3Address: cluster.hostAddress as string,
  });
  store = storeFrom(fixture.env);

  const rendered = await renderChart({
    image: { repository: IMAGE_REPOSITORY, tag: 'test' },
    schedules: [{ name: 'mesh', schedule: '* * * * *', test: 'tcp_upload', length: 2, delay: 1 }],
    s3: {
      bucket: fixture.env.NETMON_S3_BUCKET,
      endpoint: fixture.env.NETMON_S3_ENDPOINT,
      credentialsSecret: 'netmon-s3',
    },
    sqs: {
      queueUrl: fixture.env.NETMON_SQS_QUEUE_URL,
      endpoint: fixture.env.NETMON_SQS_ENDPOINT,
      visibilityTimeoutSeconds: 30,
    },
    pushgateway: { url: fixture.env.NETMON_PUSHGATEWAY_URL },
    prometheus: { url: fixture.env.NETMON_PROMETHEUS_URL },
    functions: { probe: { budgetSeconds: 300, serverReadyTimeoutSeconds: 5 } },
  });
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  // No controller-manager here: the namespace's default ServiceAccount is made by hand.
  await core.createNamespacedServiceAccount({
    namespace: NAMESPACE,
    body: { metadata: { name: 'default' } },
  });
  for (const [name, stringData] of Object.entries(SECRETS))
    await core.createNamespacedSecret({ namespace: NAMESPACE, body: { metadata: { name }, stringData } });
  const applied = await serverSideApply(controlPlane.kubeconfig, rendered, { namespace: NAMESPACE });

  // The functions authenticate as the chart's ServiceAccount: its RBAC is what they get.
  const token = await core.createNamespacedServiceAccountToken({
    namespace: NAMESPACE,
    name: RELEASE,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const kubeconfigFile = join(dir, 'kubeconfig');
  await writeFile(kubeconfigFile, controlPlane.withToken(token.status?.token ?? '').exportConfig());
  const configMap = applied.find((o): o is V1ConfigMap => o.kind === 'ConfigMap') as V1ConfigMap;
  const probeJob = applied.find(
    (o): o is V1CronJob => o.kind === 'CronJob' && (o.metadata?.name ?? '').endsWith('-probe'),
  ) as V1CronJob;
  const container = probeJob.spec?.jobTemplate.spec?.template.spec?.containers[0];
  functionEnv = {
    PATH: process.env.PATH,
    LOG_LEVEL: 'warn',
    KUBECONFIG: kubeconfigFile,
    ...configMap.data,
    ...resolveEnv(container?.env ?? [], 'probe'),
  };

  simulator = new NodeSimulator(controlPlane.kubeconfig, cluster, {
    [`${IMAGE_REPOSITORY}:*`]: (command) =>
      command.map((word) => (word === 'node' ? process.execPath : word.replace(/^\/opt\/netmon\//, DIST))),
  });
  await simulator.start();
}, 45 * 60_000);

afterAll(async () => {
  await simulator?.stop();
  await fixture?.stop();
  await cluster?.destroy();
  await controlPlane?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

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
      async () => (await queryLatestPairs(fixture.stack.prometheusUrl, { schedule: 'mesh' })).length === 6,
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
    const events: Array<{ type: string; runId: string }> = [];
    const watch = await new Watch(controlPlane.kubeconfig).watch(
      `/api/v1/namespaces/${NAMESPACE}/pods`,
      { labelSelector: `${LABELS.managedBy}=${MANAGED_BY}` },
      (type, pod: KubernetesObject) =>
        events.push({ type, runId: pod.metadata?.labels?.[LABELS.runId] ?? '' }),
      () => undefined,
    );
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
      watch.abort();
    }
    const records = await recordsOf('parallel', round);
    expect(pairsOf(records)).toEqual(ALL_PAIRS);
    // Each test's pods, from the first ADDED to the last DELETED, form one block: no other test's event inside.
    const runs = [...new Set(events.map((e) => e.runId))];
    expect(runs).toHaveLength(6);
    for (const run of runs) {
      const first = events.findIndex((e) => e.runId === run);
      const last = events.findLastIndex((e) => e.runId === run);
      const inside = events.slice(first, last + 1).filter((e) => e.runId !== run);
      expect(inside, `events of other tests during ${run}`).toEqual([]);
      expect(events[last]?.type).toBe('DELETED');
    }
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
    simulator.setImagePulls('node-c', false);
    try {
      const round = await openRound('pulls');
      await finishProbe(startProbe(envOf('netmon-probe-1')));
      const records = await recordsOf('pulls', round);
      expect(pairsOf(records)).toEqual(ALL_PAIRS);
      for (const record of records) {
        if (record.src === 'node-c' || record.dst === 'node-c') {
          expect(record.connectivity).toBe(0);
          expect(record.reason).toBe(record.dst === 'node-c' ? 'server-missing' : 'timeout');
          expect(record.message).toContain('ErrImagePull');
        } else expect(record.connectivity).toBe(1);
      }
      const status = await statusOf('pulls');
      expect(status.lastCompletedRound).toMatchObject({ id: round, total: 6, done: 2, failed: 4 });
      expect(await testPodsLeft()).toEqual([]);
    } finally {
      simulator.setImagePulls('node-c', true);
    }
  }, 300_000);

  it('a node marked NotReady mid-round: its remaining pairs are skipped with that reason, the rest complete', async () => {
    await onlySchedule('notready', { schedule: '* * * * *', test: 'ping', length: 2, delay: 1 });
    const round = await openRound('notready');
    const probe = startProbe(envOf('netmon-probe-1'));
    try {
      await waitFor('the first pair to finish', async () => (await manifestOf('notready')).counts.done >= 1, {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      await simulator.setReady('node-c', false);
      const report = await finishProbe(probe);
      const manifest = await manifestOf('notready');
      expect(manifest.round).toBe(round);
      expect(manifest.closedAt).not.toBeNull();
      const skipped = manifest.pairs.filter((p) => p.state === 'skipped');
      expect(skipped.length).toBeGreaterThanOrEqual(2);
      expect(report.skipped).toBe(skipped.length);
      for (const pair of manifest.pairs) {
        if (pair.src !== 'node-c' && pair.dst !== 'node-c') expect(pair.state).toBe('done');
        else expect(['done', 'skipped']).toContain(pair.state);
      }
      for (const pair of skipped) expect(pair.reason).toBe('node node-c is not Ready');
      const status = await statusOf('notready');
      expect(status.lastCompletedRound).toMatchObject({ total: 6, skipped: skipped.length });
      expect(status.progress).toBe('6/6');
    } finally {
      await probe.stop();
      await simulator.setReady('node-c', true);
    }
  }, 300_000);

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
});
