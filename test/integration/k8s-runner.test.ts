import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../../infra/cluster/control-plane.ts';
import { type LocalS3, startLocalS3 } from '../../infra/local-stack/s3.ts';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { LockError } from '../../layers/core/errors.ts';
import { waitFor } from '../../layers/core/process.ts';
import type { RunnerNode } from '../../layers/domain/runner.ts';
import { DEFAULT_SERVER_PORTS } from '../../layers/domain/test-types.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { LeaseTestLock } from '../../layers/k8s/lease.ts';
import { KubeNodeSource } from '../../layers/k8s/nodes.ts';
import { LABELS, MANAGED_BY } from '../../layers/k8s/pods.ts';
import { KubernetesRunner, type KubernetesRunnerOptions } from '../../layers/k8s/runner.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { NodeSimulator } from '../k8s/node-simulator.ts';

/**
 * The Kubernetes runner against a real kube-apiserver (built from the
 * upstream modules), with the node simulator running the pods' containers
 * as processes in the simulated nodes' namespaces.
 */
const IMAGE = 'ghcr.io/erigrid/k8s-netmon:test';
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const NAMESPACE = 'netmon';

let controlPlane: ControlPlane;
let cluster: SimCluster;
let simulator: NodeSimulator;
let s3: LocalS3;
let dir: string;
let core: CoreV1Api;
let env: NodeJS.ProcessEnv;

function runnerOptions(overrides: Partial<KubernetesRunnerOptions> = {}): KubernetesRunnerOptions {
  return {
    namespace: NAMESPACE,
    image: IMAGE,
    hostNetwork: true,
    s3CredentialsSecret: 'netmon-s3',
    s3Env: {
      NETMON_S3_BUCKET: s3.bucket,
      NETMON_S3_ENDPOINT: s3.endpoint,
      NETMON_S3_FORCE_PATH_STYLE: 'true',
    },
    agentCommand: ['node', '/opt/netmon/agent.js'],
    slackSeconds: 60,
    ports: DEFAULT_SERVER_PORTS,
    serverReadyTimeoutSeconds: 30,
    ...overrides,
  };
}

function node(name: string): RunnerNode {
  const n = cluster.node(name);
  return { name: n.name, address: n.address };
}

async function podsLeft(): Promise<string[]> {
  const pods = await core.listNamespacedPod({
    namespace: NAMESPACE,
    labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
  });
  return pods.items.map((p) => p.metadata?.name ?? '');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-k8s-runner-'));
  // A cold build of the control plane takes minutes on 2 cores; a warm one, a moment.
  controlPlane = await startControlPlane();
  core = controlPlane.kubeconfig.makeApiClient(CoreV1Api);
  cluster = await SimCluster.create({
    nodes: [
      { name: 'node-a', rateBitsPerSecond: 10e6, zone: 'z1', region: 'r' },
      { name: 'node-b', rateBitsPerSecond: 20e6, zone: 'z2', region: 'r' },
    ],
    cuts: [['node-b', 'node-a']],
    hostAddress: true,
  });
  s3 = await startLocalS3(join(dir, 's3'), 'netmon', cluster.hostAddress);
  env = {
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    NETMON_S3_BUCKET: s3.bucket,
    NETMON_S3_ENDPOINT: s3.endpoint,
  };
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  // No controller-manager here: the namespace's default ServiceAccount must be made by hand.
  await core.createNamespacedServiceAccount({
    namespace: NAMESPACE,
    body: { metadata: { name: 'default' } },
  });
  await core.createNamespacedSecret({
    namespace: NAMESPACE,
    body: {
      metadata: { name: 'netmon-s3' },
      stringData: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
    },
  });
  simulator = new NodeSimulator(controlPlane.kubeconfig, cluster, {
    [`${IMAGE.split(':')[0]}:*`]: (command) =>
      command.map((word) => (word === 'node' ? process.execPath : word.replace(/^\/opt\/netmon\//, DIST))),
  });
  await simulator.start();
}, 45 * 60_000);

afterAll(async () => {
  await simulator?.stop();
  await s3?.stop();
  await cluster?.destroy();
  await controlPlane?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('Kubernetes runner', () => {
  it('lists the simulated nodes with their addresses, zones and readiness', async () => {
    const source = new KubeNodeSource(core);
    const nodes = await source.list();
    expect(nodes.map((n) => [n.name, n.address, n.ready, n.labels['topology.kubernetes.io/zone']])).toEqual([
      ['node-a', cluster.node('node-a').address, true, 'z1'],
      ['node-b', cluster.node('node-b').address, true, 'z2'],
    ]);
    await simulator.setReady('node-b', false);
    expect((await source.list()).find((n) => n.name === 'node-b')?.ready).toBe(false);
    await simulator.setReady('node-b', true);
  });

  it('measures a pair with a server pod on dst and the agent on src, and deletes both pods', async () => {
    const runner = new KubernetesRunner(core, runnerOptions());
    const outcome = await runner.run({
      src: node('node-a'),
      dst: node('node-b'),
      test: 'tcp_upload',
      lengthSeconds: 3,
      delaySeconds: 1,
    });
    if (!outcome.ok) throw new Error(JSON.stringify(outcome.failure));
    expect(Math.abs((outcome.summary.throughput.upload.total?.mean ?? 0) - 10e6) / 10e6).toBeLessThan(0.1);
    const bytes = await storeFrom(env).getBytes(outcome.storedArchiveKey ?? '');
    expect(parseArchive(bytes ?? new Uint8Array()).metadata.NAME).toBe('tcp_upload');
    expect(await podsLeft()).toEqual([]);
  }, 120_000);

  it('a cut pair is a measured failure (unreachable), not a runner error', async () => {
    const runner = new KubernetesRunner(core, runnerOptions());
    const outcome = await runner.run({
      src: node('node-b'),
      dst: node('node-a'),
      test: 'tcp_upload',
      lengthSeconds: 2,
      delaySeconds: 1,
    });
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.failure.reason).toBe('unreachable');
    expect(await podsLeft()).toEqual([]);
  }, 120_000);

  it('an image the nodes cannot pull: server-missing with the reason, pods deleted', async () => {
    const runner = new KubernetesRunner(
      core,
      runnerOptions({ image: 'registry.invalid/nothing:1', serverReadyTimeoutSeconds: 5 }),
    );
    const outcome = await runner.run({
      src: node('node-a'),
      dst: node('node-b'),
      test: 'ping',
      lengthSeconds: 2,
    });
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.failure.reason).toBe('server-missing');
      expect(outcome.failure.message).toContain('ErrImagePull');
    }
    expect(await podsLeft()).toEqual([]);
  }, 60_000);

  it("a test stopped at its pod's activeDeadlineSeconds is deadline-exceeded, not a network failure", async () => {
    const runner = new KubernetesRunner(core, runnerOptions());
    const outcome = await runner.run({
      src: node('node-a'),
      dst: node('node-b'),
      test: 'ping',
      lengthSeconds: 20,
      delaySeconds: 0,
      timeoutSeconds: 3,
    });
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.failure.reason).toBe('deadline-exceeded');
      expect(outcome.failure.message).toContain('activeDeadlineSeconds (3 s)');
    }
    expect(await podsLeft()).toEqual([]);
  }, 60_000);

  it('deletes pods that a crashed run left behind', async () => {
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'netmon-cli-leftover', labels: { [LABELS.managedBy]: MANAGED_BY } },
        spec: { nodeName: 'node-a', containers: [{ name: 'x', image: 'registry.invalid/x:1' }] },
      },
    });
    const runner = new KubernetesRunner(core, runnerOptions());
    await waitFor('the leftover to be old enough', async () => (await runner.cleanupStale(1)) === 1, {
      timeoutMs: 10_000,
      intervalMs: 500,
    });
    await waitFor('the leftover to be gone', async () => (await podsLeft()).length === 0);
  }, 30_000);
});

describe('Lease test lock', () => {
  it('lets one holder at a time test, hands over on release, and takes over an expired lease', async () => {
    const api = controlPlane.kubeconfig.makeApiClient(CoordinationV1Api);
    const first = new LeaseTestLock(api, {
      namespace: NAMESPACE,
      identity: 'probe-1',
      leaseDurationSeconds: 3,
      pollMs: 100,
    });
    const second = new LeaseTestLock(api, {
      namespace: NAMESPACE,
      identity: 'probe-2',
      leaseDurationSeconds: 3,
      pollMs: 100,
    });
    const release = await first.acquire(1000);
    await expect(second.acquire(500)).rejects.toThrow(LockError);
    await release();
    const releaseSecond = await second.acquire(1000);
    const lease = await api.readNamespacedLease({ name: 'netmon-test', namespace: NAMESPACE });
    expect(lease.spec?.holderIdentity).toBe('probe-2');
    await releaseSecond();
    // A probe that died holding the lease: its holder is set, and nobody renews it any more.
    const current = await api.readNamespacedLease({ name: 'netmon-test', namespace: NAMESPACE });
    await api.replaceNamespacedLease({
      name: 'netmon-test',
      namespace: NAMESPACE,
      body: {
        metadata: current.metadata ?? {},
        spec: {
          holderIdentity: 'probe-dead',
          leaseDurationSeconds: 3,
          // MicroTime: six fractional digits, sent as a string (see layers/k8s/lease.ts).
          renewTime: `${new Date().toISOString().slice(0, -1)}000Z` as unknown as Date,
        },
      },
    });
    const takeover = Date.now();
    const releaseFirst = await first.acquire(15_000);
    expect(Date.now() - takeover).toBeGreaterThan(1000);
    await releaseFirst();
  }, 60_000);
});
