import { mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '../../layers/core/process.ts';
import { ClusterError } from './errors.ts';

/**
 * cgroup trees of the cluster. This host has cgroup v1 hierarchies (cpu,
 * memory, pids, ... and name=systemd) and an empty cgroup2 one
 * (/sys/fs/cgroup/unified: "hybrid" mode, where the kubelet and runc make
 * their cgroups too). The kubelet refuses a cgroupRoot that is missing from
 * any v1 hierarchy ("cgroup has some missing paths"), so every path is made,
 * searched and removed in every hierarchy. Paths are absolute within a
 * hierarchy, e.g. /k8s-netmon-123/node-1.
 */

/** Mount points of the cgroup hierarchies, v1 ("cgroup") and the unified one ("cgroup2"). */
export async function cgroupRoots(): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const roots: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    const fields = before?.split(' ') ?? [];
    const fsType = after?.split(' ')[0];
    // Field 4 is the root of the mount within its hierarchy: only whole hierarchies.
    const isCgroup = fsType === 'cgroup' || fsType === 'cgroup2';
    if (isCgroup && fields[3] === '/' && fields[4] !== undefined) roots.push(unescapeMount(fields[4]));
  }
  return roots;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
export function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Makes `path` (and its parents) in every hierarchy. In the cpuset hierarchy
 * a new cgroup has no CPUs and no memory nodes until given its parent's, and
 * no process may join it before.
 */
export async function createCgroup(path: string): Promise<void> {
  const parts = path.split('/').filter(Boolean);
  for (const root of await cgroupRoots()) {
    let current = root;
    for (const part of parts) {
      const parent = current;
      current = join(current, part);
      if (await exists(current)) continue;
      try {
        await mkdir(current);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new ClusterError(`cannot create cgroup ${current}: ${(err as Error).message}`, {
            cause: err,
          });
      }
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        if (await exists(join(parent, file))) {
          const value = (await readFile(join(parent, file), 'utf8')).trim();
          await writeFile(join(current, file), value);
        }
      }
    }
  }
}

/** Every cgroup folder at or below `path` in one hierarchy, deepest first. */
async function subtree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const below = await Promise.all(
    entries.filter((e) => e.isDirectory()).map((e) => subtree(join(dir, e.name))),
  );
  return [...below.flat(), dir];
}

/** Processes at or below `path`, in any hierarchy. */
export async function cgroupPids(path: string): Promise<number[]> {
  const pids = new Set<number>();
  for (const root of await cgroupRoots()) {
    for (const dir of await subtree(join(root, path))) {
      const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const pid of procs.split('\n').filter(Boolean)) pids.add(Number(pid));
    }
  }
  return [...pids];
}

async function setFreezer(path: string, state: 'FROZEN' | 'THAWED'): Promise<boolean> {
  const file = join('/sys/fs/cgroup/freezer', path, 'freezer.state');
  if (!(await exists(file))) return false;
  await writeFile(file, state).catch(() => undefined);
  return true;
}

/**
 * Kills every process at or below `path`. The tree is frozen first, so that
 * nothing in it (a kubelet, containerd, a shim) can start a process between
 * our reading the list and the kill; SIGKILL takes effect on the thaw.
 */
export async function killCgroup(path: string): Promise<number> {
  let killed = 0;
  await waitFor(
    `the processes of cgroup ${path} to end`,
    async () => {
      const pids = await cgroupPids(path);
      if (pids.length === 0) return true;
      const frozen = await setFreezer(path, 'FROZEN');
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
          killed++;
        } catch {
          // Gone meanwhile.
        }
      }
      if (frozen) await setFreezer(path, 'THAWED');
      return false;
    },
    { timeoutMs: 15_000, intervalMs: 50 },
  );
  return killed;
}

/** Removes `path` and everything below it in every hierarchy (its processes must be gone). */
export async function removeCgroup(path: string): Promise<void> {
  await waitFor(
    `cgroup ${path} to be removed`,
    async () => {
      let left = 0;
      for (const root of await cgroupRoots()) {
        for (const dir of await subtree(join(root, path))) {
          // EBUSY while an exiting process is not reaped yet: try again.
          await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'ENOENT') left++;
          });
        }
      }
      return left === 0;
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  );
}

/** Top-level cgroup names (in any hierarchy) that `match` accepts. */
export async function topLevelCgroups(match: (name: string) => boolean): Promise<string[]> {
  const names = new Set<string>();
  for (const root of await cgroupRoots()) {
    for (const entry of await readdir(root, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory() && match(entry.name)) names.add(entry.name);
    }
  }
  return [...names];
}

/** Moves a process (not its threads' future children already forked) into `path` in every hierarchy. */
export async function moveToCgroup(pid: number, path: string): Promise<void> {
  for (const root of await cgroupRoots()) {
    await writeFile(join(root, path, 'cgroup.procs'), String(pid));
  }
}

/** The processes whose parent is `parent` (from /proc/PID/stat). */
export async function childrenOf(parent: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Fields after the parenthesised command: state, then the parent's pid.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === parent) children.push(Number(entry));
  }
  return children;
}
