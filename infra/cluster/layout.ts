import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Names and paths of one local real cluster. Everything the cluster creates
 * on the host carries its owner, the process id of the supervisor that runs
 * it, so that `cluster down`, or the next `cluster up`, can tell a live
 * cluster from the remains of a crashed one:
 *
 *   /run/k8s-netmon/cluster-<pid>/       sockets, containerd state, runc root,
 *                                        UTS namespaces (short paths: a unix
 *                                        socket path has at most 107 bytes)
 *   /sys/fs/cgroup/<each>/k8s-netmon-<pid>/<node>/...   every process
 *   nmsim-<pid>-<k>-<node>               network namespaces (infra/rig)
 *   CNI network nm<pid>-<node>           /var/lib/cni/results/<network>-*
 *   DIR/ (--out)                         configs, containerd roots, kubelet
 *                                        roots, logs, cluster.json
 */

export const RUN_ROOT = '/run/k8s-netmon';
/** Pod addresses of every cluster: node i gets 10.244.i.0/24. */
export const POD_NETWORK = '10.244.0.0/16';
const RUN_PREFIX = 'cluster-';
export const CGROUP_PREFIX = 'k8s-netmon-';
const STATE_VERSION = 1;

export interface NodeLayout {
  name: string;
  /** Index from 0, in the order of --nodes. */
  index: number;
  /** The node's own folder under DIR. */
  dir: string;
  containerdRoot: string;
  containerdConfig: string;
  containerdLog: string;
  kubeletRoot: string;
  kubeletConfig: string;
  kubeletKubeconfig: string;
  kubeletLog: string;
  kubeProxyConfig: string;
  kubeProxyLog: string;
  certDir: string;
  podLogs: string;
  volumePlugins: string;
  cniConfDir: string;
  cniIpamDir: string;
  cniNetwork: string;
  /** Pod addresses of this node (host-local IPAM). */
  podCidr: string;
  /** Runtime folder: containerd's state and sockets, runc's root, the UTS namespace. */
  run: string;
  socket: string;
  containerdState: string;
  runcRoot: string;
  uts: string;
  /** The kubelet's cgroupRoot: pods go below it (kubepods/...). */
  cgroup: string;
  /** containerd, its shims and the kubelet. */
  runtimeCgroup: string;
}

export interface ClusterLayout {
  owner: number;
  out: string;
  run: string;
  cgroup: string;
  controlPlaneDir: string;
  /** The scheduler and the controller-manager. */
  controlCgroup: string;
  /** The supervisor's other children: the control plane, Prometheus, the Pushgateway. */
  hostCgroup: string;
  supervisorLog: string;
  /** The API server's audit log: the requests of service accounts (JSON lines). */
  auditLog: string;
  stateFile: string;
  clusterJson: string;
  kubeconfig: string;
  values: string;
  /** Client certificates the cluster issues (kube-proxy's) and their kubeconfigs. */
  pki: string;
  nodes: NodeLayout[];
}

export function clusterLayout(owner: number, out: string, nodeNames: readonly string[]): ClusterLayout {
  const run = join(RUN_ROOT, `${RUN_PREFIX}${owner}`);
  const cgroup = `/${CGROUP_PREFIX}${owner}`;
  return {
    owner,
    out,
    run,
    cgroup,
    controlPlaneDir: join(out, 'control-plane'),
    controlCgroup: `${cgroup}/control`,
    hostCgroup: `${cgroup}/host`,
    supervisorLog: join(out, 'supervisor.log'),
    auditLog: join(out, 'audit.log'),
    stateFile: join(run, 'state.json'),
    clusterJson: join(out, 'cluster.json'),
    kubeconfig: join(out, 'kubeconfig'),
    values: join(out, 'values.yaml'),
    pki: join(out, 'pki'),
    nodes: nodeNames.map((name, index) => nodeLayout(owner, out, run, cgroup, name, index)),
  };
}

function nodeLayout(
  owner: number,
  out: string,
  run: string,
  cgroup: string,
  name: string,
  index: number,
): NodeLayout {
  const dir = join(out, 'nodes', name);
  const nodeRun = join(run, name);
  return {
    name,
    index,
    dir,
    containerdRoot: join(dir, 'containerd'),
    containerdConfig: join(dir, 'containerd.toml'),
    containerdLog: join(dir, 'containerd.log'),
    kubeletRoot: join(dir, 'kubelet'),
    kubeletConfig: join(dir, 'kubelet.json'),
    kubeletKubeconfig: join(dir, 'kubelet.kubeconfig'),
    kubeletLog: join(dir, 'kubelet.log'),
    kubeProxyConfig: join(dir, 'kube-proxy.json'),
    kubeProxyLog: join(dir, 'kube-proxy.log'),
    certDir: join(dir, 'pki'),
    podLogs: join(dir, 'pod-logs'),
    volumePlugins: join(dir, 'volume-plugins'),
    cniConfDir: join(dir, 'cni'),
    cniIpamDir: join(dir, 'cni-ipam'),
    cniNetwork: `nm${owner}-${name}`,
    // Pods of different clusters never meet (they live in their nodes' namespaces): every cluster uses 10.244/16.
    podCidr: `10.244.${index + 1}.0/24`,
    run: nodeRun,
    socket: join(nodeRun, 'containerd.sock'),
    containerdState: join(nodeRun, 'containerd'),
    runcRoot: join(nodeRun, 'runc'),
    uts: join(nodeRun, 'uts'),
    cgroup: `${cgroup}/${name}`,
    runtimeCgroup: `${cgroup}/${name}/runtime`,
  };
}

/** What `down` and the stale sweep need to remove a cluster, also when its supervisor is gone. */
export interface ClusterState {
  version: number;
  owner: { pid: number; startTicks: number };
  out: string;
  nodes: string[];
}

/** The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or undefined when it is gone. */
export async function startTicksOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // The command in parentheses may contain spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  return Number.isFinite(ticks) ? ticks : undefined;
}

/** Whether the owner still runs: the same pid with the same start time (a reused pid is not the owner). */
export async function ownerAlive(owner: ClusterState['owner']): Promise<boolean> {
  return (await startTicksOf(owner.pid)) === owner.startTicks;
}

export function newState(owner: ClusterState['owner'], out: string, nodes: readonly string[]): ClusterState {
  return { version: STATE_VERSION, owner, out, nodes: [...nodes] };
}

export function parseState(text: string): ClusterState | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const v = value as Partial<ClusterState>;
    if (
      v.version !== STATE_VERSION ||
      typeof v.owner?.pid !== 'number' ||
      typeof v.owner.startTicks !== 'number' ||
      typeof v.out !== 'string' ||
      !Array.isArray(v.nodes) ||
      !v.nodes.every((n) => typeof n === 'string')
    ) {
      return undefined;
    }
    return { version: v.version, owner: v.owner, out: v.out, nodes: v.nodes };
  } catch {
    return undefined;
  }
}

export function layoutOf(state: ClusterState): ClusterLayout {
  return clusterLayout(state.owner.pid, state.out, state.nodes);
}

/** The owner pid encoded in a run folder or cgroup name of ours, or undefined for other names. */
export function ownerOfName(name: string): number | undefined {
  const match = new RegExp(`^(?:${RUN_PREFIX}|${CGROUP_PREFIX})(\\d+)$`).exec(name);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
