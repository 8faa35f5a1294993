import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { log } from '../../layers/core/log.ts';
import { lastLines, waitFor } from '../../layers/core/process.ts';
import { cleanupStaleRigs } from '../rig/sim-cluster.ts';
import { sweepStaleClusters, teardownCluster } from './cleanup.ts';
import { type ClusterInfo, type ClusterOptions, LocalCluster } from './cluster.ts';
import { ClusterError } from './errors.ts';
import { layoutOf, ownerAlive, parseState } from './layout.ts';

/**
 * `cluster up` and `cluster down`. `up` starts a supervisor, a detached
 * process that builds the cluster (LocalCluster.up), reports progress over an
 * IPC channel, and then holds the cluster until SIGTERM. `up` returns once
 * the cluster is ready and leaves the supervisor running; `down` stops the
 * supervisor (which removes everything) and then removes whatever a crashed
 * supervisor left behind.
 */

type Message =
  | { kind: 'progress'; line: string }
  | { kind: 'ready'; info: ClusterInfo }
  | { kind: 'failed'; message: string };

const SUPERVISOR_STOP_MS = 90_000;

export interface UpRequest {
  nodes: number;
  out: string;
  ratesMbit?: readonly number[] | undefined;
  cuts?: ReadonlyArray<readonly [string, string]>;
  stack?: boolean;
  flentImage?: boolean;
  images?: readonly string[];
}

/** The argv of the CLI's hidden `cluster supervise` for a request. */
export function supervisorArgs(request: UpRequest): string[] {
  return [
    'cluster',
    'supervise',
    '--nodes',
    String(request.nodes),
    '--out',
    request.out,
    ...(request.ratesMbit === undefined ? [] : ['--rates', request.ratesMbit.join(',')]),
    ...(request.cuts ?? []).flatMap(([src, dst]) => ['--cut', `${src}:${dst}`]),
    ...(request.stack === false ? ['--no-stack'] : []),
    ...(request.flentImage === false ? ['--no-flent-image'] : []),
    ...(request.images ?? []).flatMap((image) => ['--image', resolve(image)]),
  ];
}

async function stateIn(out: string) {
  const text = await readFile(join(out, 'state.json'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseState(text);
}

/**
 * Starts the supervisor (`cli` is the argv that runs this program's CLI),
 * shows its progress through `progress`, and resolves with cluster.json once
 * it is ready. On failure or interruption the supervisor removes the cluster.
 */
export async function clusterUp(
  request: UpRequest,
  cli: readonly string[],
  progress: (line: string) => void,
): Promise<ClusterInfo> {
  const out = resolve(request.out);
  const previous = await stateIn(out);
  if (previous !== undefined && (await ownerAlive(previous.owner))) {
    throw new ClusterError(
      `a cluster is already up in ${out} (supervisor ${previous.owner.pid}): run \`npm run cluster -- down --out ${out}\` first`,
    );
  }
  if (previous !== undefined) await teardownCluster(layoutOf(previous), { removeOut: true });
  await mkdir(out, { recursive: true });
  const logFile = await open(join(out, 'supervisor.log'), 'a');
  const [command, ...args] = cli;
  if (command === undefined) throw new TypeError('clusterUp: empty cli');
  let child: ChildProcess;
  try {
    child = spawn(command, [...args, ...supervisorArgs({ ...request, out })], {
      detached: true,
      stdio: ['ignore', logFile.fd, logFile.fd, 'ipc'],
    });
  } finally {
    await logFile.close();
  }
  let interrupted = false;
  const interrupt = (): void => {
    interrupted = true;
    progress('interrupted: removing the cluster');
    child.kill('SIGTERM');
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    return await new Promise<ClusterInfo>((resolveInfo, reject) => {
      let failure: string | undefined;
      child.on('message', (message: Message) => {
        if (message.kind === 'progress') progress(message.line);
        else if (message.kind === 'ready') resolveInfo(message.info);
        else failure = message.message;
      });
      // After a failure the supervisor removes the cluster, then exits: wait for that.
      child.once('exit', async (code, signal) => {
        const logPath = join(out, 'supervisor.log');
        if (interrupted) {
          reject(new ClusterError(`interrupted: the cluster was removed (logs in ${out})`));
        } else if (failure !== undefined) {
          reject(new ClusterError(`${failure} (the cluster was removed; logs in ${out})`));
        } else {
          const tail = await readFile(logPath, 'utf8').catch(() => '');
          reject(
            new ClusterError(
              `the cluster supervisor exited (${code ?? signal}) before the cluster was ready; last lines of ${logPath}:\n${lastLines(tail, 8)}`,
            ),
          );
        }
      });
    });
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    // The supervisor lives on alone: no channel, not counted by our event loop.
    if (child.connected) child.disconnect();
    child.unref();
  }
}

/** The supervisor's side: build, report, hold until SIGTERM (the shutdown registry then removes everything). */
export async function superviseCluster(options: Omit<ClusterOptions, 'progress'>): Promise<void> {
  const send = (message: Message): void => {
    if (process.connected) process.send?.(message);
  };
  // `up` goes away once the cluster is ready; the cluster stays.
  process.on('disconnect', () => log.info('cluster up has returned; holding the cluster until SIGTERM'));
  try {
    const { info } = await LocalCluster.up({
      ...options,
      progress: (line) => send({ kind: 'progress', line }),
    });
    send({ kind: 'ready', info });
    log.info({ nodes: info.nodes.length, seconds: info.startup.seconds }, 'cluster ready');
  } catch (err) {
    const message = err instanceof ClusterError ? err.message : `${(err as Error).message ?? err}`;
    log.error({ err }, 'cluster start failed');
    // The cluster is removed already (LocalCluster.up): tell `up`, then go (the channel would keep us alive).
    const failed: Message = { kind: 'failed', message };
    if (process.connected && process.send !== undefined) process.send(failed, () => process.exit(1));
    else process.exit(1);
    return;
  }
  // The cluster's processes keep the event loop busy; this keeps it alive in any case.
  setInterval(() => undefined, 1 << 30);
}

/** Stops the supervisor of the cluster in `out` and removes what is left, also after a crash. */
export async function clusterDown(outDir: string, progress: (line: string) => void): Promise<void> {
  const out = resolve(outDir);
  const state = await stateIn(out);
  if (state === undefined) {
    const swept = await sweepStaleClusters();
    throw new ClusterError(
      `no cluster in ${out} (no state.json)${swept.length > 0 ? `; removed ${swept.length} cluster(s) of crashed supervisors` : ''}`,
    );
  }
  const started = performance.now();
  if (await ownerAlive(state.owner)) {
    progress(`stopping supervisor ${state.owner.pid}`);
    process.kill(state.owner.pid, 'SIGTERM');
    await waitFor('the cluster supervisor to exit', async () => !(await ownerAlive(state.owner)), {
      timeoutMs: SUPERVISOR_STOP_MS,
      intervalMs: 100,
    }).catch(() => {
      progress(`supervisor ${state.owner.pid} did not stop in time: killing it`);
      process.kill(state.owner.pid, 'SIGKILL');
    });
  } else {
    progress(`supervisor ${state.owner.pid} is gone: removing what it left`);
  }
  // Whatever the supervisor did not get to (a crash, a SIGKILL): its namespaces, processes, mounts, cgroups.
  await cleanupStaleRigs();
  await teardownCluster(layoutOf(state), { removeOut: true });
  progress(`cluster removed (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
