import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Pod, type V1PodSpec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leftoversOf } from '../../infra/cluster/cleanup.ts';
import type { ClusterInfo } from '../../infra/cluster/cluster.ts';
import { BUSYBOX_IMAGE } from '../../infra/cluster/images.ts';
import { clusterLayout } from '../../infra/cluster/layout.ts';
import { listRigObjects } from '../../infra/rig/sim-cluster.ts';
import { type RunResult, runProcess, waitFor } from '../../layers/core/process.ts';

/**
 * The local real cluster (`npm run cluster -- up|down`): real kubelets and
 * containerd on three simulated nodes, the real scheduler and
 * controller-manager. One cluster for the whole file; the CronJob is made
 * first, because the controller-manager fires it only at the next minute.
 */

// A cold start builds hyperkube (~5 min on the control plane's Go build cache, more without it).
const COLD_BUILD_MS = 40 * 60_000;
const CRONJOB_MS = 150_000;
const CLI = ['node', 'functions/cli/main.ts', 'cluster'];
const NODES = 3;

let out: string;
let info: ClusterInfo;
let core: CoreV1Api;
let batch: BatchV1Api;
let downResult: RunResult | undefined;

function cluster(args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return runProcess([process.execPath, ...CLI.slice(1), ...args], {
    timeoutMs,
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
}

/** The hardened pod our test pods are: non-root, read-only root, no capabilities, seccomp, no escalation. */
function hardenedSpec(command: string, extra: Partial<V1PodSpec> = {}): V1PodSpec {
  return {
    restartPolicy: 'Never',
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [
      {
        name: 'probe',
        image: BUSYBOX_IMAGE,
        imagePullPolicy: 'Never',
        command: ['sh', '-c', command],
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
      },
    ],
    ...extra,
  };
}

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'netmon-cluster-'));
  const up = await cluster(['up', '--nodes', String(NODES), '--no-flent-image', '--out', out], COLD_BUILD_MS);
  expect(up.exitCode, up.stderr).toBe(0);
  info = JSON.parse(await readFile(join(out, 'cluster.json'), 'utf8')) as ClusterInfo;
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromFile(info.kubeconfig);
  core = kubeconfig.makeApiClient(CoreV1Api);
  batch = kubeconfig.makeApiClient(BatchV1Api);
  await batch.createNamespacedCronJob({
    namespace: 'default',
    body: {
      metadata: { name: 'every-minute' },
      spec: {
        schedule: '* * * * *',
        concurrencyPolicy: 'Forbid',
        // On the pod network: the embedded stack on the host must be reachable from there too.
        jobTemplate: {
          spec: {
            template: {
              spec: hardenedSpec(
                `wget -q -O /dev/null ${info.endpoints.pushgateway}/-/ready && echo fired > /dev/termination-log`,
              ),
            },
          },
        },
      },
    },
  });
}, COLD_BUILD_MS);

afterAll(async () => {
  // The down test may have failed before running: never leave a cluster behind.
  if (downResult === undefined && out !== undefined) await cluster(['down', '--out', out], 120_000);
  await rm(out, { recursive: true, force: true });
});

describe('local real cluster', () => {
  it('has every node Ready with its address, zone and the tools image', async () => {
    const nodes = (await core.listNode()).items;
    expect(nodes.map((n) => n.metadata?.name).sort()).toEqual(['node-1', 'node-2', 'node-3']);
    for (const node of nodes) {
      const mine = info.nodes.find((n) => n.name === node.metadata?.name);
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).toBe(mine?.address);
      expect(node.metadata?.labels?.['topology.kubernetes.io/zone']).toBe(
        mine?.labels['topology.kubernetes.io/zone'],
      );
      expect(node.status?.images?.some((i) => i.names?.some((n) => n.endsWith(BUSYBOX_IMAGE)))).toBe(true);
    }
  });

  it('runs a hardened hostNetwork pod on its node: no capabilities, seccomp, its node only; Services and the stack answer', async () => {
    const node = info.nodes[1];
    if (node === undefined) throw new Error('no second node');
    const script = [
      'grep -E "^(CapEff|Seccomp|NoNewPrivs):" /proc/self/status',
      'echo "uid=$(id -u) host=$(hostname)"',
      'if touch /probe 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi',
      // The kubernetes Service (the API server on the bridge) through kube-proxy's rules.
      'if nc -w 3 10.96.0.1 443 </dev/null; then echo service=ok; fi',
      // The embedded stack on the host's bridge address.
      `wget -q -O /dev/null ${info.endpoints.s3}/${info.endpoints.s3Bucket} && echo s3=ok`,
      `wget -q -O /dev/null ${info.endpoints.prometheus}/-/ready && echo prometheus=ok`,
      'ip -o -4 addr show | while read -r _ dev _ addr _; do echo "addr=$dev,$addr"; done',
    ].join('; ');
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'hardened' },
        spec: hardenedSpec(`(${script}) > /dev/termination-log`, { hostNetwork: true, nodeName: node.name }),
      },
    });
    let pod: V1Pod | undefined;
    await waitFor(
      'the hardened pod to finish',
      async () => {
        pod = await core.readNamespacedPod({ name: 'hardened', namespace: 'default' });
        return ['Succeeded', 'Failed'].includes(pod.status?.phase ?? '');
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const message = pod?.status?.containerStatuses?.[0]?.state?.terminated?.message ?? '';
    expect(pod?.status?.phase, message).toBe('Succeeded');
    expect(message).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(message).toMatch(/^Seccomp:\s+2$/m);
    expect(message).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(message).toContain(`uid=65532 host=${node.name}`);
    expect(message).toContain('rootfs=ro');
    expect(message).toContain('service=ok');
    expect(message).toContain('s3=ok');
    expect(message).toContain('prometheus=ok');
    const addresses = [...message.matchAll(/^addr=([^,]+),([\d.]+)\/\d+$/gm)].map((m) => m[2]);
    expect(addresses).toContain(node.address);
    for (const other of info.nodes.filter((n) => n !== node)) expect(addresses).not.toContain(other.address);
    // Not the host either: its bridge address (the API server's) is elsewhere.
    expect(addresses).not.toContain(new URL(info.endpoints.kubernetes ?? '').hostname);
  });

  it('resolves cluster names through CoreDNS and reaches the stack by its Service names, on the host network and the pod network', async () => {
    const inCluster = info.endpoints.inCluster;
    if (inCluster === undefined) throw new Error('cluster.json has no in-cluster endpoints');
    const services = await Promise.all([
      core.readNamespacedService({ name: 'kubernetes', namespace: 'default' }),
      core.readNamespacedService({ name: 's3', namespace: 'netmon-stack' }),
    ]);
    const [kubernetesIp, s3Ip] = services.map((s) => s.spec?.clusterIP ?? 'none');
    const s3Url = `${inCluster.s3}/${inCluster.s3Bucket}`;
    // netget: Go's resolver on the pod's resolv.conf (busybox-static cannot look names up in the image).
    const script = [
      'cat /etc/resolv.conf',
      `netget lookup kubernetes.default.svc.cluster.local ${new URL(inCluster.s3).hostname}`,
      `netget get ${s3Url} ${inCluster.prometheus}/-/ready`,
    ].join(' && ');
    const pods: Array<{ name: string; extra: Partial<V1PodSpec> }> = [
      {
        name: 'dns-host-network',
        extra: { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet', nodeName: 'node-3' },
      },
      { name: 'dns-pod-network', extra: { nodeName: 'node-1' } },
    ];
    const messages = await Promise.all(
      pods.map(async ({ name, extra }) => {
        await core.createNamespacedPod({
          namespace: 'default',
          body: { metadata: { name }, spec: hardenedSpec(`(${script}) > /dev/termination-log 2>&1`, extra) },
        });
        let pod: V1Pod | undefined;
        await waitFor(
          `pod ${name} to finish`,
          async () => {
            pod = await core.readNamespacedPod({ name, namespace: 'default' });
            return ['Succeeded', 'Failed'].includes(pod.status?.phase ?? '');
          },
          { timeoutMs: 60_000, intervalMs: 200 },
        );
        const message = pod?.status?.containerStatuses?.[0]?.state?.terminated?.message ?? '';
        expect(pod?.status?.phase, `${name}: ${message}`).toBe('Succeeded');
        return message;
      }),
    );
    for (const message of messages) {
      const lines = message.split('\n');
      expect(lines, message).toContain(`nameserver ${info.dns.server}`);
      expect(lines.find((l) => l.startsWith('search '))).toMatch(
        /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local\b/,
      );
      expect(lines).toContain(`kubernetes.default.svc.cluster.local ${kubernetesIp}`);
      expect(lines).toContain(`s3.netmon-stack ${s3Ip}`);
      const fetched = lines.filter((l) => / 200 \d+$/.test(l)).map((l) => l.split(' ')[0]);
      expect(fetched).toEqual([s3Url, `${inCluster.prometheus}/-/ready`]);
    }
    // The chart's values name the stack as its pods reach it.
    const values = await readFile(info.values, 'utf8');
    expect(values).toContain(`endpoint: "${inCluster.s3}"`);
    expect(values).toContain(`queueUrl: "${inCluster.sqsQueueUrl}"`);
    expect(values).toContain(`url: "${inCluster.pushgateway}"`);
    expect(inCluster.s3).toBe('http://s3.netmon-stack:9000');
  });

  it(
    'fires a CronJob through the controller-manager: its Job pod Succeeds on the pod network',
    async () => {
      let pod: V1Pod | undefined;
      await waitFor(
        'a pod of the CronJob to succeed',
        async () => {
          const pods = await core.listNamespacedPod({ namespace: 'default' });
          pod = pods.items.find((p) => p.metadata?.ownerReferences?.some((o) => o.kind === 'Job'));
          return pod?.status?.phase === 'Succeeded';
        },
        { timeoutMs: CRONJOB_MS, intervalMs: 1000 },
      );
      expect(pod?.status?.containerStatuses?.[0]?.state?.terminated?.message).toBe('fired\n');
      const jobs = await batch.listNamespacedJob({ namespace: 'default' });
      expect(jobs.items[0]?.metadata?.ownerReferences?.[0]?.name).toBe('every-minute');
    },
    CRONJOB_MS + 10_000,
  );

  it('down leaves no namespace, process, mount, cgroup or host-wide file of the cluster', async () => {
    const owner = info.supervisor.pid;
    downResult = await cluster(['down', '--out', out], 120_000);
    expect(downResult.exitCode, downResult.stderr).toBe(0);
    const layout = clusterLayout(
      owner,
      out,
      info.nodes.map((n) => n.name),
    );
    expect(await leftoversOf(layout)).toEqual({ processes: [], mounts: [], cgroups: [], files: [] });
    const rig = await listRigObjects();
    expect(rig.netns.filter((n) => n.startsWith(`nmsim-${owner}-`))).toEqual([]);
    // The supervisor, containerd, kubelets, shims: nothing runs with the cluster's paths in its command line.
    const commands = await Promise.all(
      (await readdir('/proc'))
        .filter((p) => /^\d+$/.test(p))
        .map((p) => readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')),
    );
    expect(commands.filter((c) => c.includes(out) || c.includes(`cluster-${owner}`))).toEqual([]);
  });
});
