import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { ClusterInfo, ClusterNodeInfo } from '../../infra/cluster/cluster.ts';
import { runChecked, runProcess, waitFor } from '../../layers/core/process.ts';

/**
 * One local real cluster for a test file (`npm run cluster -- up|down`, see
 * infra/cluster/README.md): real kubelets and containerd per node, the real
 * scheduler and controller-manager, the embedded stack and the Flent image.
 * And the real faults the tests cause on it: a kubelet stopped or killed, an
 * image removed from one node's containerd.
 */

// A cold start builds hyperkube and the Flent image (minutes each on 2 cores).
export const CLUSTER_UP_MS = 40 * 60_000;
const CLI = ['functions/cli/main.ts', 'cluster'];

export interface TestCluster {
  out: string;
  info: ClusterInfo;
  kubeconfig: KubeConfig;
  core: CoreV1Api;
  /** The Flent image's reference: the chart's default image, imported into every node. */
  flentImage: string;
  node(name: string): ClusterNodeInfo;
  down(): Promise<void>;
}

function cli(args: readonly string[], timeoutMs: number) {
  return runProcess([process.execPath, ...CLI, ...args], {
    timeoutMs,
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
}

export async function startCluster(options: {
  nodes: number;
  ratesMbit?: readonly number[];
  cuts?: ReadonlyArray<readonly [string, string]>;
}): Promise<TestCluster> {
  const out = await mkdtemp(join(tmpdir(), 'netmon-test-cluster-'));
  const args = [
    'up',
    '--nodes',
    String(options.nodes),
    '--out',
    out,
    ...(options.ratesMbit === undefined ? [] : ['--rates', options.ratesMbit.join(',')]),
    ...(options.cuts ?? []).flatMap(([src, dst]) => ['--cut', `${src}:${dst}`]),
  ];
  let stopped = false;
  const down = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const result = await cli(['down', '--out', out], 120_000);
    await rm(out, { recursive: true, force: true });
    if (result.exitCode !== 0) throw new Error(`cluster down failed: ${result.stderr}`);
  };
  try {
    const up = await cli(args, CLUSTER_UP_MS);
    if (up.exitCode !== 0) throw new Error(`cluster up failed (${up.exitCode}): ${up.stderr}`);
    const info = JSON.parse(await readFile(join(out, 'cluster.json'), 'utf8')) as ClusterInfo;
    const kubeconfig = new KubeConfig();
    kubeconfig.loadFromFile(info.kubeconfig);
    const flent = info.images.find((ref) => !ref.startsWith('netmon.local/'));
    if (flent === undefined) throw new Error(`no Flent image in ${info.images.join(', ')}`);
    return {
      out,
      info,
      kubeconfig,
      core: kubeconfig.makeApiClient(CoreV1Api),
      flentImage: flent,
      node(name) {
        const node = info.nodes.find((n) => n.name === name);
        if (node === undefined) throw new Error(`no node ${name} in the cluster`);
        return node;
      },
      down,
    };
  } catch (err) {
    // `up` removes what it started when it fails; `down` also removes what a crash left.
    await down().catch(() => undefined);
    throw err;
  }
}

/**
 * Stops (SIGSTOP), resumes (SIGCONT) or kills a node's kubelet. The
 * supervisor only watches its daemons during start-up: a kubelet that dies
 * later is just gone, the cluster stays (and `down` still removes it all).
 */
export function signalKubelet(node: ClusterNodeInfo, signal: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): void {
  process.kill(node.kubeletPid, signal);
}

export async function readyOf(core: CoreV1Api, name: string): Promise<string | undefined> {
  const node = await core.readNode({ name });
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

/** Waits until the node's Ready condition is `status` (the node lifecycle controller sets Unknown). */
export async function waitReady(
  core: CoreV1Api,
  name: string,
  ready: boolean,
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    `node ${name} ${ready ? 'Ready' : 'not Ready'}`,
    async () => ((await readyOf(core, name)) === 'True') === ready,
    { timeoutMs, intervalMs: 250 },
  );
}

function ctr(node: ClusterNodeInfo, ...args: string[]): Promise<string> {
  return runChecked(['ctr', '-a', node.containerdSocket, '-n', 'k8s.io', ...args], (m) => new Error(m));
}

/** Where removeImage keeps the image's content meanwhile: a name no registry serves. */
const KEPT = 'netmon.local/removed-by-test:kept';

/**
 * Removes an image from a node's containerd (namespace k8s.io, the
 * kubelet's): the next pod that needs it makes the kubelet pull it. The
 * content stays under another name, so that restoreImage needs no import
 * (the Flent image is ~550 MB, and its cached archive may have been rebuilt
 * meanwhile).
 */
export async function removeImage(node: ClusterNodeInfo, ref: string): Promise<void> {
  await ctr(node, 'images', 'tag', '--force', ref, KEPT);
  await ctr(node, 'images', 'rm', ref);
}

export async function restoreImage(node: ClusterNodeInfo, ref: string): Promise<void> {
  await ctr(node, 'images', 'tag', '--force', KEPT, ref);
  await ctr(node, 'images', 'rm', KEPT);
}
