import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { CoordinationV1Api, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_NAMESPACE, S3_CREDENTIALS_SECRET } from '../../infra/cluster/cluster.ts';
import { BUSYBOX_IMAGE } from '../../infra/cluster/images.ts';
import { LockError, RunnerError } from '../../layers/core/errors.ts';
import { waitFor } from '../../layers/core/process.ts';
import { publishedOneWay } from '../../layers/domain/one-way.ts';
import type { RunnerNode } from '../../layers/domain/runner.ts';
import { DEFAULT_SERVER_PORTS } from '../../layers/domain/test-types.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { icmpCheckArgv } from '../../layers/flent/run.ts';
import { LeaseTestLock } from '../../layers/k8s/lease.ts';
import { KubeNodeSource } from '../../layers/k8s/nodes.ts';
import { clientPod, LABELS, MANAGED_BY } from '../../layers/k8s/pods.ts';
import { KubernetesRunner, type KubernetesRunnerOptions } from '../../layers/k8s/runner.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import {
  CLUSTER_UP_MS,
  signalKubelet,
  startCluster,
  type TestCluster,
  waitReady,
} from '../helpers/cluster.ts';

/**
 * The Kubernetes runner on the local real cluster (infra/cluster): two
 * nodes with real kubelets and containerd, 10 and 20 Mbit/s, node-2 -> node-1
 * cut; the test pods run the Flent image under their securityContext; the
 * agent writes its archive to the cluster's embedded S3. Faults are real: a
 * kubelet stopped, an image no registry serves, a memory limit, a deadline,
 * a Pod Security label.
 */
const NAMESPACE = CHART_NAMESPACE;
/** A kubelet stopped: the controller-manager's node-monitor-grace-period (20 s here) and a little. */
const NOT_READY_MS = 60_000;

let cluster: TestCluster;
let core: CoreV1Api;
let s3Env: Record<string, string>;
let env: NodeJS.ProcessEnv;

function runnerOptions(overrides: Partial<KubernetesRunnerOptions> = {}): KubernetesRunnerOptions {
  return {
    namespace: NAMESPACE,
    image: cluster.flentImage,
    hostNetwork: true,
    s3CredentialsSecret: S3_CREDENTIALS_SECRET,
    s3Env,
    agentCommand: ['node', '/opt/netmon/agent.js'],
    slackSeconds: 60,
    ports: DEFAULT_SERVER_PORTS,
    serverReadyTimeoutSeconds: 30,
    pollMs: 100,
    ...overrides,
  };
}

function node(name: string): RunnerNode {
  const n = cluster.node(name);
  return { name: n.name, address: n.address };
}

/** A ping of node-1 -> node-2 that must fail as server-missing: its message. */
async function serverMissingMessage(runner: KubernetesRunner): Promise<string> {
  const outcome = await runner.run({
    src: node('node-1'),
    dst: node('node-2'),
    test: 'ping',
    lengthSeconds: 2,
  });
  if (outcome.ok) throw new Error('the test measured, though its server pod should not have run');
  expect(outcome.failure.reason).toBe('server-missing');
  return outcome.failure.message;
}

async function podsLeft(namespace = NAMESPACE): Promise<string[]> {
  const pods = await core.listNamespacedPod({
    namespace,
    labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
  });
  return pods.items.map((p) => p.metadata?.name ?? '');
}

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2, ratesMbit: [10, 20], cuts: [['node-2', 'node-1']] });
  core = cluster.core;
  const { endpoints } = cluster.info;
  const secret = await core.readNamespacedSecret({ name: S3_CREDENTIALS_SECRET, namespace: NAMESPACE });
  const credential = (key: string): string => Buffer.from(secret.data?.[key] ?? '', 'base64').toString();
  s3Env = {
    NETMON_S3_BUCKET: endpoints.s3Bucket ?? '',
    NETMON_S3_ENDPOINT: endpoints.s3 ?? '',
    NETMON_S3_FORCE_PATH_STYLE: 'true',
  };
  env = {
    ...s3Env,
    AWS_ACCESS_KEY_ID: credential('AWS_ACCESS_KEY_ID'),
    AWS_SECRET_ACCESS_KEY: credential('AWS_SECRET_ACCESS_KEY'),
  };
}, CLUSTER_UP_MS);

afterAll(async () => {
  // A test that failed midway may have left a kubelet stopped: down SIGKILLs it anyway.
  await cluster?.down();
}, 180_000);

describe('Kubernetes runner', () => {
  it('lists the nodes with their addresses, zones and readiness; a stopped kubelet makes its node NotReady', async () => {
    const source = new KubeNodeSource(core);
    const nodes = await source.list();
    expect(nodes.map((n) => [n.name, n.address, n.ready, n.labels['topology.kubernetes.io/zone']])).toEqual([
      ['node-1', cluster.node('node-1').address, true, 'zone-a'],
      ['node-2', cluster.node('node-2').address, true, 'zone-b'],
    ]);
    // The node lifecycle controller marks it Unknown once its Lease is not renewed for the grace period.
    signalKubelet(cluster.node('node-2'), 'SIGSTOP');
    try {
      await waitReady(core, 'node-2', false, NOT_READY_MS);
      expect((await source.list()).find((n) => n.name === 'node-2')?.ready).toBe(false);
    } finally {
      signalKubelet(cluster.node('node-2'), 'SIGCONT');
    }
    await waitReady(core, 'node-2', true, NOT_READY_MS);
  }, 150_000);

  it('measures a pair with a server pod on dst and the agent on src, and deletes both pods', async () => {
    const runner = new KubernetesRunner(core, runnerOptions());
    const outcome = await runner.run({
      src: node('node-1'),
      dst: node('node-2'),
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

  it("udp_latency: one-way delays with both ends' clocks, src's from the agent and dst's from the server pod", async () => {
    const runner = new KubernetesRunner(core, runnerOptions());
    const outcome = await runner.run({
      src: node('node-1'),
      dst: node('node-2'),
      test: 'udp_latency',
      lengthSeconds: 2,
      delaySeconds: 1,
    });
    if (!outcome.ok) throw new Error(JSON.stringify(outcome.failure));
    // The simulated nodes share this host's kernel: both pods read its clock (adjtimex, unprivileged).
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    for (const end of ['src', 'dst'] as const)
      expect(outcome.clocks?.[end], end).toMatchObject({ clockId: bootId, source: 'kernel' });
    const published = publishedOneWay(outcome.summary, outcome.clocks ?? null);
    expect(published).toMatchObject({ probe: 'udp', trusted: true, clockErrorBoundSeconds: 0 });
    expect(published?.delaySeconds.src_to_dst).toBeGreaterThan(0);
    expect(published?.delaySeconds.dst_to_src).toBeGreaterThan(0);
    expect(await podsLeft()).toEqual([]);
  }, 120_000);

  it('a cut pair is a measured failure (unreachable), not a runner error', async () => {
    const runner = new KubernetesRunner(core, runnerOptions());
    const outcome = await runner.run({
      src: node('node-2'),
      dst: node('node-1'),
      test: 'tcp_upload',
      lengthSeconds: 2,
      delaySeconds: 1,
    });
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.failure.reason).toBe('unreachable');
    expect(await podsLeft()).toEqual([]);
  }, 120_000);

  it('an image the nodes cannot pull: server-missing with the reason, pods deleted', async () => {
    // A real pull by the kubelet, from a registry that refuses connections. (A name that does not
    // resolve would do too, after the nodes' resolver times out: ~11 s here.)
    const runner = new KubernetesRunner(
      core,
      runnerOptions({ image: '127.0.0.1:1/netmon/nothing:1', serverReadyTimeoutSeconds: 5 }),
    );
    expect(await serverMissingMessage(runner)).toContain('ErrImagePull');
    expect(await podsLeft()).toEqual([]);
  }, 60_000);

  it("a server port taken on dst's node (not by a pod): server-missing at once, naming the port's setting", async () => {
    // Something on node-2's host network (not a pod the scheduler knows) holds netserver's TCP port.
    const holder = spawn(
      'ip',
      [
        'netns',
        'exec',
        cluster.node('node-2').netns,
        process.execPath,
        '-e',
        `require('node:net').createServer().listen(${DEFAULT_SERVER_PORTS.netserver}, '0.0.0.0', () => console.log('bound'));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`the port holder exited ${code}`)));
      });
      const started = Date.now();
      const message = await serverMissingMessage(new KubernetesRunner(core, runnerOptions()));
      expect(message).toMatch(/netserver exited 1: .*Unable to start netserver/);
      expect(message).toContain('ports.netserver (NETMON_NETSERVER_PORT)');
      // Not the 30 s of serverReadyTimeoutSeconds: the exited container is seen at once.
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(await podsLeft()).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
    }
  }, 60_000);

  it("a test stopped at its pod's activeDeadlineSeconds is deadline-exceeded, not a network failure", async () => {
    const runner = new KubernetesRunner(core, runnerOptions());
    const outcome = await runner.run({
      src: node('node-1'),
      dst: node('node-2'),
      test: 'tcp_upload',
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

  it('an agent over its memory limit is oom-killed, not a tool error', async () => {
    // Node alone needs more than this: the kernel's OOM killer ends the agent in its container's cgroup.
    const runner = new KubernetesRunner(
      core,
      runnerOptions({ agentResources: { requests: { memory: '16Mi' }, limits: { memory: '16Mi' } } }),
    );
    const outcome = await runner.run({
      src: node('node-1'),
      dst: node('node-2'),
      test: 'tcp_upload',
      lengthSeconds: 2,
      delaySeconds: 1,
    });
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.failure.reason, outcome.failure.message).toBe('oom-killed');
      expect(outcome.failure.message).toContain('limit 16Mi');
    }
    expect(await podsLeft()).toEqual([]);
  }, 60_000);

  it('a namespace whose Pod Security level refuses hostNetwork pods: a RunnerError naming the label, no pod left', async () => {
    const namespace = 'netmon-baseline';
    await core.createNamespace({
      body: { metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } } },
    });
    try {
      const runner = new KubernetesRunner(core, runnerOptions({ namespace }));
      const run = runner.run({ src: node('node-1'), dst: node('node-2'), test: 'ping', lengthSeconds: 2 });
      await expect(run).rejects.toThrow(RunnerError);
      await expect(run).rejects.toThrow(
        /namespace netmon-baseline refuses the test pods: its label pod-security\.kubernetes\.io\/enforce=baseline .*hostNetwork/,
      );
      expect(await podsLeft(namespace)).toEqual([]);
    } finally {
      await core.deleteNamespace({ name: namespace });
    }
  });

  /**
   * ICMP in the agent's container as the kubelet runs it (containerd + runc):
   * the pod clientPod builds, as 65532 on the host network, no capability at
   * all and no_new_privs. fping (the product's reachability check) and ping
   * must get answers over unprivileged ICMP datagram sockets (the nodes'
   * ping_group_range is systemd's "0 2147483647"). Before, the image's file
   * capability on fping made it fail to execute (EPERM) or run without a reply.
   */
  it('fping and ping from node A answer from node B as 65532, with no capability and no_new_privs', async () => {
    // node-1 -> node-2 is not the cut direction.
    const a = cluster.node('node-1');
    const b = cluster.node('node-2');
    const script = [
      'grep -E "^(Cap(Bnd|Eff|Prm)|NoNewPrivs):" /proc/self/status',
      'echo "uid=$(id -u) gid=$(id -g)"',
      `${icmpCheckArgv(b.address).join(' ')}; echo "fping=$?"`,
      `ping -n -q -c 3 -i 0.2 -W 1 ${b.address}; echo "ping=$?"`,
    ].join('; ');
    const pod: V1Pod = clientPod(
      {
        src: { name: a.name, address: a.address },
        dst: { name: b.name, address: b.address },
        test: 'ping',
        lengthSeconds: 5,
      },
      { schedule: 'icmp', round: 'icmp', runId: 'icmp' },
      {
        namespace: 'default',
        image: cluster.flentImage,
        hostNetwork: true,
        s3Env: {},
        agentCommand: ['sh', '-c', `(${script}) > /dev/termination-log 2>&1`],
        ports: DEFAULT_SERVER_PORTS,
        slackSeconds: 60,
      },
      b.address,
    );
    // The product's pod as it is: no capability added to the agent.
    expect(pod.spec?.containers[0]?.securityContext?.capabilities).toEqual({ drop: ['ALL'] });
    const name = pod.metadata?.name ?? '';
    await core.createNamespacedPod({ namespace: 'default', body: pod });

    let done: V1Pod | undefined;
    await waitFor(
      'the ICMP pod to finish',
      async () => {
        done = await core.readNamespacedPod({ name, namespace: 'default' });
        return ['Succeeded', 'Failed'].includes(done.status?.phase ?? '');
      },
      { timeoutMs: 45_000, intervalMs: 200 },
    );
    const message = done?.status?.containerStatuses?.[0]?.state?.terminated?.message ?? '';
    await core.deleteNamespacedPod({ name, namespace: 'default' });
    expect(done?.status?.phase, message).toBe('Succeeded');
    expect(done?.spec?.nodeName).toBe(a.name);
    expect(message).toContain('uid=65532 gid=65532');
    expect(message).toMatch(/^CapBnd:\s+0000000000000000$/m);
    expect(message).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(message).toMatch(/^NoNewPrivs:\s+1$/m);
    // fping: every probe answered, exit 0.
    expect(message).toContain(`${b.address} : xmt/rcv/%loss = 3/3/0%, min/avg/max`);
    expect(message, message).toMatch(/^fping=0$/m);
    // iputils ping (flent's fallback) too.
    expect(message).toContain('3 packets transmitted, 3 received, 0% packet loss');
    expect(message).toMatch(/^ping=0$/m);
  }, 60_000);

  it('deletes pods that a crashed run left behind', async () => {
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'netmon-cli-leftover', labels: { [LABELS.managedBy]: MANAGED_BY } },
        // Running on its node, as a crashed probe leaves them: the kubelet stops it, then it is gone.
        spec: {
          nodeName: 'node-1',
          terminationGracePeriodSeconds: 1,
          containers: [
            { name: 'x', image: BUSYBOX_IMAGE, imagePullPolicy: 'Never', command: ['sleep', '3600'] },
          ],
        },
      },
    });
    const runner = new KubernetesRunner(core, runnerOptions());
    await waitFor(
      'the leftover to be old enough',
      async () => (await runner.cleanupStale(1, ['node-1'])) === 1,
      {
        timeoutMs: 10_000,
        intervalMs: 500,
      },
    );
    await waitFor('the leftover to be gone', async () => (await podsLeft()).length === 0);
  }, 30_000);
});

describe('Lease test lock', () => {
  it('lets one holder at a time test, hands over on release, and takes over an expired lease', async () => {
    const api = cluster.kubeconfig.makeApiClient(CoordinationV1Api);
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
