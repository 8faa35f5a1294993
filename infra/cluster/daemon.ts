import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { waitFor } from '../../layers/core/process.ts';
import { ClusterError } from './errors.ts';

/**
 * A long-running process of the cluster (containerd, a kubelet, the
 * scheduler...) with its output in a log file rather than in our memory: it
 * may run for days, and its log is what a user reads when it misbehaves.
 */
export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly log: string;
  /** Settles when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** SIGTERM, SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** PATH for the cluster's processes: containerd finds runc and its shim, CNI plugins find iptables. */
export const DAEMON_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function startDaemon(name: string, argv: readonly string[], log: string): Promise<Daemon> {
  const [command, ...args] = argv;
  if (command === undefined) throw new TypeError('startDaemon: empty argv');
  const file = await open(log, 'a');
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(command, args, {
      // Its own process group: a Ctrl-C in the terminal of `cluster up` reaches the supervisor only.
      detached: true,
      stdio: ['ignore', file.fd, file.fd],
      env: { ...process.env, PATH: DAEMON_PATH },
    });
  } finally {
    await file.close();
  }
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new ClusterError(`${name}: cannot start ${command}: ${err.message}`, { cause: err });
  }
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  return {
    name,
    pid,
    log,
    exited,
    get running() {
      return running;
    },
    async stop(graceMs = 10_000) {
      if (!running) return;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits for `check`, failing early (with the log's path) when the daemon exits first. */
export async function waitForDaemon(
  daemon: Daemon,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    what,
    async () => {
      if (!daemon.running) {
        const { code, signal } = await daemon.exited;
        throw new ClusterError(`${daemon.name} exited (${code ?? signal}) before ${what}: see ${daemon.log}`);
      }
      return check();
    },
    { timeoutMs, intervalMs: 50 },
  );
}
