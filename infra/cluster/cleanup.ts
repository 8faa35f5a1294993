import { createHash } from 'node:crypto';
import { readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { log } from '../../layers/core/log.ts';
import { runProcess } from '../../layers/core/process.ts';
import { cgroupPids, killCgroup, removeCgroup, topLevelCgroups, unescapeMount } from './cgroups.ts';
import { ClusterError } from './errors.ts';
import {
  CGROUP_PREFIX,
  type ClusterLayout,
  layoutOf,
  ownerAlive,
  ownerOfName,
  parseState,
  RUN_ROOT,
} from './layout.ts';

/**
 * Removing a cluster: its processes (by cgroup: containerd's shims and the
 * containers are not children of anything we started), its mounts (overlay
 * root filesystems, shm, pod namespaces, the kubelets' tmpfs volumes and
 * their rshared root folders, the UTS namespaces), its cgroups, and what
 * containerd and the kubelet leave in host-wide places: CNI result caches in
 * /var/lib/cni/results, symbolic links in /var/log/containers and shim
 * sockets in /run/containerd/s. Works from the layout alone, so it cleans up
 * as well after a supervisor that crashed.
 */

const CNI_RESULTS = '/var/lib/cni/results';
const CONTAINER_LOG_LINKS = '/var/log/containers';
/** containerd 1.6 puts every shim's socket here, whatever its own state folder. */
const SHIM_SOCKETS = '/run/containerd/s';

export interface Leftovers {
  processes: number[];
  mounts: string[];
  cgroups: string[];
  files: string[];
}

interface Mount {
  id: number;
  parent: number;
  path: string;
}

async function mounts(): Promise<Mount[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      return { id: Number(fields[0]), parent: Number(fields[1]), path: unescapeMount(fields[4] ?? '') };
    });
}

function under(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => path === root || path.startsWith(`${root}/`));
}

/** Mount points at or below `roots`, children before parents. */
export async function mountsUnder(roots: readonly string[]): Promise<string[]> {
  const found = (await mounts()).filter((m) => under(m.path, roots));
  // Deeper paths first; of two mounts on one path, the later (upper) one first.
  return found
    .sort((a, b) => b.path.split('/').length - a.path.split('/').length || b.id - a.id)
    .map((m) => m.path);
}

/** Unmounts everything at or below `roots`, lazily when a mount is busy. */
export async function unmountUnder(roots: readonly string[]): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const targets = await mountsUnder(roots);
    if (targets.length === 0) return;
    for (const target of targets) {
      const result = await runProcess(['umount', target], { timeoutMs: 10_000 });
      if (result.exitCode !== 0) await runProcess(['umount', '--lazy', target], { timeoutMs: 10_000 });
    }
  }
  const left = await mountsUnder(roots);
  if (left.length > 0) throw new ClusterError(`mounts that would not go: ${left.join(', ')}`);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The tasks (pod sandboxes and containers) containerd keeps a folder for in its state: namespace and id. */
async function containerdTasks(containerdState: string): Promise<Array<{ namespace: string; id: string }>> {
  const tasks = join(containerdState, 'io.containerd.runtime.v2.task');
  const found: Array<{ namespace: string; id: string }> = [];
  for (const namespace of await readdir(tasks).catch(() => [])) {
    for (const id of await readdir(join(tasks, namespace)).catch(() => [])) found.push({ namespace, id });
  }
  return found;
}

/**
 * A shim's socket: containerd 1.6 names it after the sha256 of its own
 * address, the namespace and the task id, so it is found from the state
 * folder even when the shim is gone.
 */
function shimSocket(socket: string, task: { namespace: string; id: string }): string {
  return join(SHIM_SOCKETS, sha256(join(socket, task.namespace, task.id)));
}

/** /var/log/containers links (the kubelet makes them, whatever its podLogsDir) that point into `out`. */
async function containerLogLinks(out: string): Promise<string[]> {
  const links: string[] = [];
  for (const name of await readdir(CONTAINER_LOG_LINKS).catch(() => [])) {
    const path = join(CONTAINER_LOG_LINKS, name);
    const target = await readlink(path).catch(() => undefined);
    if (target !== undefined && under(target, [out])) links.push(path);
  }
  return links;
}

/**
 * CNI result caches of the cluster's pods: <network>-<sandbox id>-<interface>
 * for the nodes' own networks, and containerd's cni-loopback-<id>-lo for the
 * same sandboxes (`ids`: the tasks containerd knew).
 */
async function cniResults(networks: readonly string[], ids: ReadonlySet<string>): Promise<string[]> {
  const names = await readdir(CNI_RESULTS).catch(() => []);
  const ours = names.filter((name) => networks.some((network) => name.startsWith(`${network}-`)));
  const sandboxes = new Set([...ids, ...ours.map((name) => /-([0-9a-f]{64})-[^-]+$/.exec(name)?.[1] ?? '')]);
  const loopback = names.filter((name) =>
    sandboxes.has(/^cni-loopback-([0-9a-f]{64})-/.exec(name)?.[1] ?? '-'),
  );
  return [...ours, ...loopback].map((name) => join(CNI_RESULTS, name));
}

export interface TeardownOptions {
  /** Also remove the cluster's folder (--out): configs, containerd roots, logs. */
  removeOut: boolean;
}

/** Removes every process, mount, cgroup and host-wide file of the cluster. Idempotent. */
export async function teardownCluster(layout: ClusterLayout, options: TeardownOptions): Promise<void> {
  const started = performance.now();
  const tasks = await Promise.all(layout.nodes.map((node) => containerdTasks(node.containerdState)));
  const sockets = layout.nodes.flatMap((node, i) =>
    (tasks[i] ?? []).map((task) => shimSocket(node.socket, task)),
  );
  const ids = new Set(tasks.flat().map((task) => task.id));
  const killed = await killCgroup(layout.cgroup);
  await unmountUnder([layout.out, layout.run]);
  await removeCgroup(layout.cgroup);
  const files = [
    ...sockets,
    ...(await cniResults(
      layout.nodes.map((n) => n.cniNetwork),
      ids,
    )),
    ...(await containerLogLinks(layout.out)),
  ];
  for (const file of files) await rm(file, { force: true });
  await rm(layout.run, { recursive: true, force: true });
  if (options.removeOut) await rm(layout.out, { recursive: true, force: true, maxRetries: 3 });
  log.info(
    { owner: layout.owner, killed, files: files.length, ms: Math.round(performance.now() - started) },
    'cluster removed',
  );
}

/** What is left of a cluster on the host: empty once teardownCluster has run. */
export async function leftoversOf(layout: ClusterLayout): Promise<Leftovers> {
  const cgroups = await topLevelCgroups((name) => name === layout.cgroup.slice(1));
  const files = [
    ...(await cniResults(
      layout.nodes.map((n) => n.cniNetwork),
      new Set(),
    )),
    ...(await containerLogLinks(layout.out)),
    ...(await stat(layout.run).then(
      () => [layout.run],
      () => [],
    )),
  ];
  return {
    processes: await cgroupPids(layout.cgroup),
    mounts: await mountsUnder([layout.out, layout.run]),
    cgroups,
    files,
  };
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the clusters whose supervisor is gone (a crash, a SIGKILL, a
 * reboot of the supervisor's machine leaves nothing to find). Their --out
 * folders stay, for their logs; `cluster down --out DIR` removes them.
 */
export async function sweepStaleClusters(): Promise<number[]> {
  const removed: number[] = [];
  for (const entry of await readdir(RUN_ROOT).catch(() => [])) {
    const owner = ownerOfName(entry);
    if (owner !== undefined && (await sweepRunFolder(entry, owner))) removed.push(owner);
  }
  for (const name of await topLevelCgroups((n) => n.startsWith(CGROUP_PREFIX))) {
    const owner = ownerOfName(name);
    if (owner === undefined || pidExists(owner)) continue;
    await killCgroup(`/${name}`);
    await removeCgroup(`/${name}`);
    if (!removed.includes(owner)) removed.push(owner);
  }
  if (removed.length > 0) log.warn({ owners: removed }, 'removed clusters of crashed supervisors');
  return removed;
}

/** Removes the cluster of one run folder if its owner is gone; says whether it did. */
async function sweepRunFolder(entry: string, owner: number): Promise<boolean> {
  const folder = join(RUN_ROOT, entry);
  const text = await readFile(join(folder, 'state.json'), 'utf8').catch(() => undefined);
  const state = text === undefined ? undefined : parseState(text);
  if (state === undefined) {
    // Killed before its state was written: only the run folder and cgroups can exist.
    if (pidExists(owner)) return false;
    await unmountUnder([folder]);
    await rm(folder, { recursive: true, force: true });
    return true;
  }
  if (await ownerAlive(state.owner)) return false;
  await teardownCluster(layoutOf(state), { removeOut: false });
  return true;
}
