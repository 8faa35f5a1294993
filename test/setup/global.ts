import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { bundleAll } from '../../infra/build/bundle.ts';
import { cleanupStaleRigs, listStaleRigObjects } from '../../infra/rig/sim-cluster.ts';
import { isRoot } from '../../layers/core/host.ts';

/**
 * Before the suite: fresh bundles (the CLI tests run dist/, as users do) and
 * no leftovers of a crashed earlier run. After it: the suite checks itself:
 * no namespace, link or test process that it started may remain.
 */
const TEST_PROGRAMS = new Set([
  'control-plane',
  'netserver',
  'netperf',
  'irtt',
  'fping',
  'flent',
  'prometheus',
  'prometheus-pushgateway',
  'toxiproxy',
]);
let suiteStartTicks = 0;
/**
 * Marks the processes this suite starts (inherited through the environment), so that programs
 * running beside it (another suite, a demo, a cluster) are not taken for its leftovers.
 */
const SUITE_MARK = 'NETMON_TEST_SUITE';
const suiteId = randomUUID();

async function bootTicksOf(pid: string): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // Fields after the parenthesised command; starttime is field 22 overall.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19]);
}

async function commandOf(pid: string): Promise<string> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').filter(Boolean).join(' ');
}

async function parentOf(pid: string): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
}

/**
 * Whether the process or one of its ancestors carries the suite's mark. Container processes get
 * their own environment, but their shim (started by the suite's containerd) carries it. An orphan
 * (re-parented to init) has no ancestor to ask: undefined, and it counts as the suite's.
 */
async function startedBySuite(pid: string, mark: string): Promise<boolean | undefined> {
  let current: string | undefined = pid;
  for (let depth = 0; current !== undefined && current !== '0' && current !== '1' && depth < 64; depth++) {
    const environ = await readFile(`/proc/${current}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').includes(mark)) return true;
    const parent = await parentOf(current);
    if (depth === 0 && parent === '1') return undefined;
    current = parent;
  }
  return false;
}

/** The mark of the suite this worker runs in (the environment's), for strayTestProcesses. */
export function suiteMark(): string | undefined {
  const id = process.env[SUITE_MARK];
  return id === undefined ? undefined : `${SUITE_MARK}=${id}`;
}

/** Test tools (netserver, flent...) started since the suite began, by the suite or orphaned. */
export async function strayTestProcesses(sinceTicks: number, mark?: string): Promise<string[]> {
  const stray: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const command = await commandOf(pid);
    const program = command.split(' ').find((word) => TEST_PROGRAMS.has(word.split('/').pop() ?? ''));
    if (program === undefined) continue;
    const started = await bootTicksOf(pid);
    if (started === undefined || started < sinceTicks) continue;
    // Another program's live process (its ancestors without the mark) is not the suite's.
    if (mark !== undefined && (await startedBySuite(pid, mark)) === false) continue;
    stray.push(`${pid} ${command}`);
  }
  return stray;
}

async function nowTicks(): Promise<number> {
  return (await bootTicksOf(String(process.pid))) ?? 0;
}

export async function setup(): Promise<void> {
  suiteStartTicks = await nowTicks();
  process.env[SUITE_MARK] = suiteId;
  await bundleAll();
  if (isRoot()) await cleanupStaleRigs();
}

export async function teardown(): Promise<void> {
  if (!isRoot()) return;
  // Every test process has ended: a rig whose owner is gone was not cleaned up. (Rigs of live
  // owners belong to programs running beside the suite, such as a demo.)
  const left = await listStaleRigObjects();
  const stray = await strayTestProcesses(suiteStartTicks, `${SUITE_MARK}=${suiteId}`);
  const problems = [
    ...left.netns.map((n) => `namespace ${n}`),
    ...left.links.map((l) => `link ${l}`),
    ...stray.map((p) => `process ${p}`),
  ];
  if (problems.length > 0) {
    await cleanupStaleRigs();
    throw new Error(`the test suite left these behind:\n  ${problems.join('\n  ')}`);
  }
}
