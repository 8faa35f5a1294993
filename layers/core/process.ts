import { spawn } from 'node:child_process';
import { onShutdown } from './shutdown.ts';

export interface RunOptions {
  /** Hard limit; the whole process group is killed when it passes. */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when stopping. */
  killGraceMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes of stdout and of stderr kept (the tail); older output is dropped. */
  maxOutputBytes?: number;
  input?: string;
  /** Each chunk of stderr as it comes: a long build shows its progress instead of looking stuck. */
  onStderr?: (text: string) => void;
  /**
   * On shutdown (SIGINT/SIGTERM of this process): SIGTERM and the grace time
   * before SIGKILL, so that a build script removes its temporary folder. By
   * default the group is killed at once.
   */
  gracefulShutdown?: boolean;
  /** Stops the process (as stop() does) when aborted: a test whose lock was lost. */
  signal?: AbortSignal;
}

export interface RunResult {
  argv: readonly string[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
}

const DEFAULT_MAX_OUTPUT = 1 << 20;

/** Keeps the last `limit` bytes of a stream. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      const dropped = this.chunks.shift();
      this.size -= dropped?.length ?? 0;
    }
  }

  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

export interface ManagedProcess {
  readonly pid: number | undefined;
  /** Settles when the process has exited (never rejects once spawned). */
  readonly done: Promise<RunResult>;
  /** SIGTERM to the whole group, SIGKILL after the grace time; resolves when it has exited. */
  stop(): Promise<RunResult>;
  /** Exit code while running is null. */
  readonly running: boolean;
}

/**
 * Starts argv (never a shell string) in its own process group. On timeout,
 * stop() or shutdown the whole group is stopped, children of children
 * included: flent starts netperf, fping and irtt, which must not outlive it.
 */
export function startProcess(argv: readonly string[], options: RunOptions = {}): ManagedProcess {
  const [command, ...args] = argv;
  if (command === undefined) throw new TypeError('startProcess: empty argv');
  const started = performance.now();
  const stdout = new TailBuffer(options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT);
  const stderr = new TailBuffer(options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT);
  const grace = options.killGraceMs ?? 2000;
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let timedOut = false;
  let exited = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    if (child.pid === undefined || exited) return;
    killGroup(child.pid, 'SIGTERM');
    killTimer ??= setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), grace);
  };
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          stop();
        }, options.timeoutMs);
  const onAbort = (): void => stop();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop();
  const unregister = onShutdown(`process ${command}`, async () => {
    if (child.pid === undefined) return;
    if (options.gracefulShutdown === true && !exited) {
      stop();
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, grace).unref())]);
    }
    killGroup(child.pid, 'SIGKILL');
  });

  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr.push(chunk);
    options.onStderr?.(chunk.toString('utf8'));
  });
  if (options.input !== undefined) child.stdin?.end(options.input);

  const done = new Promise<RunResult>((resolve, reject) => {
    const finish = (): void => {
      exited = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      unregister();
    };
    child.on('error', (err) => {
      finish();
      reject(err);
    });
    child.on('close', (exitCode, signal) => {
      finish();
      // Grandchildren that ignored SIGTERM must not survive their parent.
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      resolve({
        argv,
        exitCode,
        signal,
        timedOut,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        durationMs: performance.now() - started,
      });
    });
  });
  return {
    pid: child.pid,
    done,
    get running() {
      return !exited;
    },
    stop: () => {
      stop();
      return done;
    },
  };
}

/** Runs argv to its end (or its timeout). Rejects only when it cannot be started. */
export function runProcess(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return startProcess(argv, options).done;
}

/** Runs argv and throws `makeError` when it does not exit 0. Returns stdout. */
export async function runChecked(
  argv: readonly string[],
  makeError: (message: string) => Error,
  options: RunOptions = {},
): Promise<string> {
  const result = await runProcess(argv, { timeoutMs: 30_000, ...options });
  if (result.exitCode !== 0) {
    const why = result.timedOut ? 'timed out' : `exit ${result.exitCode ?? result.signal}`;
    throw makeError(`${argv.join(' ')}: ${why}: ${lastLines(result.stderr || result.stdout, 3)}`);
  }
  return result.stdout;
}

export function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

/** Waits for `condition` to hold, polling, or throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => Promise<boolean> | boolean,
  { timeoutMs = 10_000, intervalMs = 100 } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
