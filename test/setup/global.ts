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
]);
let suiteStartTicks = 0;

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

/** Test tools (netserver, flent...) started since the suite began. */
export async function strayTestProcesses(sinceTicks: number): Promise<string[]> {
  const stray: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const command = await commandOf(pid);
    const program = command.split(' ').find((word) => TEST_PROGRAMS.has(word.split('/').pop() ?? ''));
    if (program === undefined) continue;
    const started = await bootTicksOf(pid);
    if (started !== undefined && started >= sinceTicks) stray.push(`${pid} ${command}`);
  }
  return stray;
}

async function nowTicks(): Promise<number> {
  return (await bootTicksOf(String(process.pid))) ?? 0;
}

export async function setup(): Promise<void> {
  suiteStartTicks = await nowTicks();
  await bundleAll();
  if (isRoot()) await cleanupStaleRigs();
}

export async function teardown(): Promise<void> {
  if (!isRoot()) return;
  // Every test process has ended: a rig whose owner is gone was not cleaned up. (Rigs of live
  // owners belong to programs running beside the suite, such as a demo.)
  const left = await listStaleRigObjects();
  const stray = await strayTestProcesses(suiteStartTicks);
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
