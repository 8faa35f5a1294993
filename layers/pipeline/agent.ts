import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatClockLine, readClockState } from '../core/clock.ts';
import { errorLine } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { runProcess } from '../core/process.ts';
import { withRetry } from '../core/retry.ts';
import { shutdownSignal } from '../core/shutdown.ts';
import { worseClock } from '../domain/one-way.ts';
import type { FlentOutcome } from '../domain/outcome.ts';
import type { TestName } from '../domain/test-types.ts';
import { encodeReport } from '../flent/compact.ts';
import { SWEEP_RUN_TIMEOUT_MS, sweepArgv, sweepResult } from '../flent/fping.ts';
import { runFlent } from '../flent/run.ts';
import { flentTitle, validateFlentSpec } from '../flent/spec.ts';
import { encodeSweepReport } from '../flent/sweep-report.ts';
import { archiveKey } from '../store/keys.ts';
import { isTransientStoreError, type ObjectStore } from '../store/s3-store.ts';

/**
 * The agent runs inside the client pod on src: one flent test against the
 * server pod on dst, the archive to S3, the compact report to the pod's
 * termination message. Exit 0 when it measured something, a failure
 * included, and when S3 stayed away for the archive (store-unavailable);
 * non-zero only for its own faults (bad input, S3 refusing it), which the
 * runner records as tool-error.
 */
export interface AgentTask {
  host: string;
  test: TestName;
  lengthSeconds: number;
  delaySeconds: number;
  schedule: string;
  src: string;
  dst: string;
  /** The server pod's netserver control port. */
  netserverPort: number;
}

export interface AgentDeps {
  store: ObjectStore;
  terminationLog: string;
  workDir?: string;
  /** How long the archive's upload is retried while S3 is away before the test is reported store-unavailable. */
  storeRetrySeconds?: number;
}

/** The pod's deadline is near after the test: a short wait for S3, then the report says what happened. */
const DEFAULT_STORE_RETRY_SECONDS = 20;

export async function runAgent(deps: AgentDeps, task: AgentTask): Promise<number> {
  const outputDir = await mkdtemp(join(deps.workDir ?? tmpdir(), 'netmon-agent-'));
  try {
    const spec = validateFlentSpec({
      test: task.test,
      host: task.host,
      length: task.lengthSeconds,
      delay: task.delaySeconds,
      title: flentTitle(`${task.src} to ${task.dst}`),
      outputDir,
      netperfControlPort: task.netserverPort,
    });
    const started = new Date();
    const before = await readClockState();
    const outcome = await runFlent(spec);
    const clock = worseClock(before ?? null, (await readClockState()) ?? null);
    const stored = await storeArchive(deps, task, outcome, started);
    const report =
      stored instanceof Error
        ? encodeReport(storeUnavailable(outcome, task, started, stored), task.host, null, clock)
        : encodeReport(outcome, task.host, stored, clock);
    await writeFile(deps.terminationLog, report);
    process.stdout.write(`${report}\n`);
    return 0;
  } catch (err) {
    const message = `agent fault: ${errorLine(err)}`;
    log.error({ err: message }, 'agent failed');
    // Still a report: the runner reads why from the termination message.
    await writeFile(deps.terminationLog, message.slice(0, 4000)).catch(() => undefined);
    return 1;
  } finally {
    await rm(outputDir, { recursive: true, force: true });
  }
}

/** The archive's key once stored (null: the test wrote none), or S3's error after retrying a while. */
async function storeArchive(
  deps: AgentDeps,
  task: AgentTask,
  outcome: FlentOutcome,
  started: Date,
): Promise<string | null | Error> {
  const path = outcome.ok ? outcome.archivePath : outcome.failure.archivePath;
  if (path === undefined) return null;
  const key = archiveKey(task.schedule, task.src, task.dst, task.test, started);
  try {
    await withRetry(
      'upload the archive',
      () => deps.store.putFile(key, path, 'application/gzip'),
      isTransientStoreError,
      { budgetMs: (deps.storeRetrySeconds ?? DEFAULT_STORE_RETRY_SECONDS) * 1000, signal: shutdownSignal },
    );
    return key;
  } catch (err) {
    if (!isTransientStoreError(err)) throw err;
    return err as Error;
  }
}

/**
 * The test ran but its archive could not be kept: not a finding about the
 * network (the record's connectivity is null, "not measured"), and not the
 * agent's fault either. The pod's archive is gone with the pod.
 */
function storeUnavailable(outcome: FlentOutcome, task: AgentTask, started: Date, err: Error): FlentOutcome {
  return {
    ok: false,
    failure: {
      connectivity: 0,
      reason: 'store-unavailable',
      message: `the test ran, but S3 did not take its archive: ${errorLine(err)}`,
      test: task.test,
      host: task.host,
      exitCode: null,
      signal: null,
      stderrTail: '',
      startTime: started.toISOString(),
      durationSeconds: outcome.ok ? outcome.durationSeconds : outcome.failure.durationSeconds,
    },
  };
}

/** How often the server pod's clock container reads the clock: the last reading is near the test's end. */
export const CLOCK_WATCH_INTERVAL_MS = 2000;

/**
 * The server pod's clock container: dst's clock, one line per reading
 * (formatClockLine) until the pod is deleted; the runner reads the log
 * before it deletes the pod.
 */
export async function watchClock(
  signal: AbortSignal,
  write = (line: string) => process.stdout.write(line),
): Promise<void> {
  while (!signal.aborted) {
    write(formatClockLine(await readClockState()));
    await sleep(CLOCK_WATCH_INTERVAL_MS, undefined, { signal }).catch(() => undefined);
  }
}

/**
 * The sweep pod's agent: fping to every peer address at once, the compact
 * report (layers/flent/sweep-report.ts) to the termination message. Exit 0
 * whenever it could probe, unreachable peers included.
 */
export async function runSweepAgent(terminationLog: string, targets: readonly string[]): Promise<number> {
  const started = new Date();
  let peers: ReturnType<typeof sweepResult>;
  try {
    const run = await runProcess(sweepArgv(targets), { timeoutMs: SWEEP_RUN_TIMEOUT_MS });
    peers = sweepResult(
      run,
      targets.map((address) => ({ name: address, address })),
    );
  } catch (err) {
    peers = `cannot start fping: ${errorLine(err)}`;
  }
  const report = encodeSweepReport({
    start: started.toISOString(),
    durationSeconds: (Date.now() - started.getTime()) / 1000,
    peers,
  });
  await writeFile(terminationLog, report);
  process.stdout.write(`${report}\n`);
  return typeof peers === 'string' ? 1 : 0;
}
