import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterInfo } from '../../infra/cluster/cluster.ts';
import { type RunResult, runProcess, waitFor } from '../../layers/core/process.ts';
import { DEFAULT_SERVER_PORTS } from '../../layers/domain/test-types.ts';
import { icmpCheckArgv } from '../../layers/flent/run.ts';
import { clientPod } from '../../layers/k8s/pods.ts';

/**
 * ICMP in the agent's container on real kubelets (containerd + runc): the
 * pod clientPod builds, with the Flent image, as 65532 on the host network,
 * no capability at all and no_new_privs. fping (the product's own
 * reachability check) and ping must get answers from the other node over
 * unprivileged ICMP datagram sockets (the nodes' ping_group_range is
 * systemd's "0 2147483647"). Before, the image's file capability on fping made
 * it either fail to execute (EPERM, exit 126) or run without a reply.
 */

// A cold start builds hyperkube and the Flent image.
const COLD_BUILD_MS = 40 * 60_000;
const CLI = ['functions/cli/main.ts', 'cluster'];
const IMAGE = 'ghcr.io/erigrid/k8s-netmon:0.1.0';

let out: string;
let info: ClusterInfo;
let core: CoreV1Api;

function cluster(args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return runProcess([process.execPath, ...CLI, ...args], {
    timeoutMs,
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
}

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'netmon-cluster-icmp-'));
  const up = await cluster(['up', '--nodes', '2', '--no-stack', '--out', out], COLD_BUILD_MS);
  expect(up.exitCode, up.stderr).toBe(0);
  info = JSON.parse(await readFile(join(out, 'cluster.json'), 'utf8')) as ClusterInfo;
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromFile(info.kubeconfig);
  core = kubeconfig.makeApiClient(CoreV1Api);
}, COLD_BUILD_MS);

afterAll(async () => {
  // Never leave a cluster behind, whatever failed.
  if (out !== undefined) {
    await cluster(['down', '--out', out], 120_000);
    await rm(out, { recursive: true, force: true });
  }
}, 180_000);

describe('ICMP in the agent pod on real kubelets', () => {
  it('fping and ping from node A answer from node B as 65532, with no capability and no_new_privs', async () => {
    const [a, b] = info.nodes;
    if (a === undefined || b === undefined) throw new Error('the cluster has fewer than two nodes');
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
        image: IMAGE,
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
});
