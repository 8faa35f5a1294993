import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ArchiveError, errorLine } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { lastLines, type RunResult, runProcess } from '../core/process.ts';
import type { FlentSummary } from '../domain/figures.ts';
import type { FailureReason, FlentOutcome, TestFailure } from '../domain/outcome.ts';
import { DEFAULT_SERVER_PORTS, expectedRunSeconds, isTestName, TEST_TYPES } from '../domain/test-types.ts';
import { readArchiveFile } from './archive.ts';
import { buildFlentArgv, type FlentSpec } from './spec.ts';
import { summarizeArchive } from './summary.ts';

export interface FlentRunOptions {
  /** Prepended to every command, e.g. ['ip', 'netns', 'exec', 'node-a'] to run inside a namespace. */
  commandPrefix?: readonly string[];
  /** Hard limit for the whole run; default: flent's expected time plus `graceSeconds`. */
  timeoutMs?: number;
  /** Slack over flent's expected run time before the run counts as hung. */
  graceSeconds?: number;
  flentBinary?: string;
  fpingBinary?: string;
  /** Stops flent when aborted; runFlent then rejects with the signal's reason (no outcome: nothing was measured). */
  signal?: AbortSignal;
}

const STDERR_TAIL_LINES = 15;
const UNANSWERED_GRACE_SECONDS = 5;
const STDERR_TAIL_CHARS = 1500;
const NO_NETSERVER = /are you sure there is a netserver listening|establish_control could not establish/;
/** flent's irtt runner (udp_latency has no fallback to netperf) when nothing answers on dst's irtt port. */
const NO_IRTT_SERVER = /Irtt connection check failed/;
/** `ip netns exec` (a commandPrefix) exits 1 with this when it cannot execute the command. */
const PREFIX_EXEC_FAILED = /exec of ".*" failed: .*/;

/**
 * What the ICMP check learned. `broken`: the check itself could not run
 * (the program cannot be executed, or cannot open an ICMP socket), so it says
 * nothing about the host.
 */
type IcmpCheck = { state: 'answers' } | { state: 'silent' } | { state: 'broken'; detail: string };

/**
 * Runs one flent test. Never throws for a network failure: an unreachable
 * host, a missing server or a hung run each come back as a TestFailure.
 */
export async function runFlent(spec: FlentSpec, options: FlentRunOptions = {}): Promise<FlentOutcome> {
  const prefix = options.commandPrefix ?? [];
  const fping = options.fpingBinary ?? 'fping';
  // A cut path makes flent wait about twice its run time before giving up. A
  // host that does not answer ICMP gets a short leash instead (ICMP may be
  // filtered while TCP works, so flent still runs).
  const icmp = await checkIcmp(spec.host, prefix, fping);
  // A broken check knows nothing about the host: no short leash then.
  const graceSeconds = options.graceSeconds ?? (icmp.state === 'silent' ? UNANSWERED_GRACE_SECONDS : 20);
  const timeoutMs = options.timeoutMs ?? (expectedRunSeconds(spec.length, spec.delay) + graceSeconds) * 1000;
  const argv = [...prefix, ...buildFlentArgv(spec, options.flentBinary)];
  const startTime = new Date().toISOString();
  log.debug({ argv, timeoutMs }, 'flent start');

  let run: RunResult;
  try {
    run = await runProcess(argv, {
      timeoutMs,
      maxOutputBytes: 256 << 10,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } catch (err) {
    return {
      ok: false,
      failure: failure(
        spec,
        startTime,
        'tool-error',
        `cannot start flent (${errorLine(err)}); run infra/system/install.sh`,
      ),
    };
  }
  options.signal?.throwIfAborted();
  const durationSeconds = run.durationMs / 1000;
  const tail = tailOf(run);
  const base = { exitCode: run.exitCode, signal: run.signal, stderrTail: tail, durationSeconds };

  if (run.timedOut) {
    const { reason, message } = classifyTimeout(spec, icmp, fping, timeoutMs);
    return { ok: false, failure: { ...failure(spec, startTime, reason, message), ...base } };
  }
  const archivePath = await findArchive(spec.outputDir, run.stdout + run.stderr);
  if (archivePath === undefined) {
    const { reason, message } = await classifyNoArchive(spec, run, prefix, fping);
    return { ok: false, failure: { ...failure(spec, startTime, reason, message), ...base } };
  }
  try {
    const summary = summarizeArchive(await readArchiveFile(archivePath));
    const missing = missingEssentials(summary);
    if (missing.length > 0) {
      // Flent still writes an archive when only ping worked: the measurement itself failed.
      const reason: FailureReason = NO_NETSERVER.test(run.stdout + run.stderr)
        ? 'server-missing'
        : 'tool-error';
      const message =
        reason === 'server-missing'
          ? `${messageFor(reason, spec)}; no data in ${missing.join(', ')}`
          : `flent recorded no data in ${missing.join(', ')}`;
      return { ok: false, failure: { ...failure(spec, startTime, reason, message), ...base, archivePath } };
    }
    return { ok: true, summary, archivePath, durationSeconds };
  } catch (err) {
    if (!(err instanceof ArchiveError)) throw err;
    return { ok: false, failure: { ...failure(spec, startTime, 'tool-error', err.message), ...base } };
  }
}

/** The series a test exists for (TEST_TYPES); without them the run measured nothing useful. */
export function missingEssentials(summary: FlentSummary): string[] {
  const missing: string[] = [];
  const type = isTestName(summary.test) ? TEST_TYPES[summary.test] : undefined;
  for (const direction of type?.throughput ?? []) {
    if ((summary.throughput[direction].total?.count ?? 0) === 0) missing.push(`TCP ${direction}`);
  }
  // udp_latency names its irtt series; the other tests take any latency series.
  const latency = type?.latency ?? [];
  for (const name of latency) if ((summary.latency[name]?.count ?? 0) === 0) missing.push(name);
  if (latency.length === 0 && !Object.values(summary.latency).some((series) => series.count > 0))
    missing.push('latency');
  return missing;
}

function failure(spec: FlentSpec, startTime: string, reason: FailureReason, message: string): TestFailure {
  return {
    connectivity: 0,
    reason,
    message,
    test: spec.test,
    host: spec.host,
    exitCode: null,
    signal: null,
    stderrTail: '',
    startTime,
    durationSeconds: 0,
  };
}

function messageFor(reason: FailureReason, spec: FlentSpec): string {
  switch (reason) {
    case 'unreachable':
      return `${spec.host} does not answer ICMP echo and no test tool could reach it`;
    case 'server-missing':
      return `${spec.host} answers ICMP echo but no netserver accepts the control connection`;
    default:
      return 'flent wrote no data file; see stderrTail';
  }
}

function tailOf(run: RunResult): string {
  const text = run.stderr.trim() ? run.stderr : run.stdout;
  const tail = lastLines(text, STDERR_TAIL_LINES);
  return tail.length > STDERR_TAIL_CHARS ? tail.slice(-STDERR_TAIL_CHARS) : tail;
}

/** Flent prints "Data file written to PATH"; fall back to the newest archive in the (per-run) directory. */
async function findArchive(outputDir: string, output: string): Promise<string | undefined> {
  const printed = /Data file written to (.+\.flent\.gz)/.exec(output)?.[1];
  const names = await readdir(outputDir).catch(() => [] as string[]);
  if (printed !== undefined) {
    const name = printed.trim().split('/').pop();
    if (name !== undefined && names.includes(name)) return join(outputDir, name);
  }
  const archives = names.filter((name) => name.endsWith('.flent.gz')).sort();
  const newest = archives[archives.length - 1];
  return newest === undefined ? undefined : join(outputDir, newest);
}

/** A hung flent: the network's fault only when the check before it could tell. */
function classifyTimeout(
  spec: FlentSpec,
  icmp: IcmpCheck,
  fping: string,
  timeoutMs: number,
): { reason: FailureReason; message: string } {
  const late = `flent did not finish within ${timeoutMs / 1000} s`;
  if (icmp.state === 'answers') return { reason: 'timeout', message: late };
  if (icmp.state === 'silent') return { reason: 'unreachable', message: messageFor('unreachable', spec) };
  return { reason: 'tool-error', message: `${late}; ${brokenCheck(fping, icmp.detail)}` };
}

/** Why did flent write nothing? Ask the host directly, briefly. */
async function classifyNoArchive(
  spec: FlentSpec,
  run: RunResult,
  prefix: readonly string[],
  fping: string,
): Promise<{ reason: FailureReason; message: string }> {
  const flentFailed = execFailure(run);
  if (flentFailed !== undefined)
    return {
      reason: 'tool-error',
      message: `cannot execute flent (${flentFailed}); run infra/system/install.sh`,
    };
  const icmp = await checkIcmp(spec.host, prefix, fping);
  if (icmp.state === 'broken')
    return { reason: 'tool-error', message: `flent wrote no data file; ${brokenCheck(fping, icmp.detail)}` };
  if (icmp.state === 'silent') return { reason: 'unreachable', message: messageFor('unreachable', spec) };
  const output = run.stdout + run.stderr;
  // flent takes a test it does not know for a host name (a shipped test not installed).
  if (output.includes(`Found no hostnames on lookup of ${spec.test}`))
    return {
      reason: 'tool-error',
      message: `flent has no test ${spec.test} (its file is not in flent's test directory); run infra/system/install.sh`,
    };
  if (NO_IRTT_SERVER.test(output))
    return {
      reason: 'server-missing',
      message: `${spec.host} answers ICMP echo but no irtt server answers on UDP port ${DEFAULT_SERVER_PORTS.irtt} (flent's irtt client knows no other)`,
    };
  const reason = NO_NETSERVER.test(output) ? 'server-missing' : 'tool-error';
  return { reason, message: messageFor(reason, spec) };
}

function brokenCheck(fping: string, detail: string): string {
  return `${fping} could not check the host (${detail}), so its reachability is unknown`;
}

/**
 * The reachability check: three probes 20 ms apart, 500 ms to answer (a cut
 * path costs about half a second). Three, so that one lost packet is not a
 * silent host; 20 ms apart, since at 100 ms the check alone cost every test
 * 200 ms (npm run bench -- round). `-S 0.0.0.0` binds the socket before use:
 * without privileges fping falls back to an ICMP datagram socket, whose echo
 * id the kernel picks, and fping 5.1 (Debian bookworm, the image's) learns
 * that id only when it binds; unbound it drops every reply as someone else's
 * and reports 100% loss. With a raw socket the bind changes nothing.
 */
export function icmpCheckArgv(host: string, fping = 'fping'): string[] {
  return [fping, '-q', '-S', '0.0.0.0', '-c', '3', '-p', '20', '-t', '500', host];
}

async function checkIcmp(host: string, prefix: readonly string[], fping: string): Promise<IcmpCheck> {
  let probe: RunResult;
  try {
    probe = await runProcess([...prefix, ...icmpCheckArgv(host, fping)], { timeoutMs: 5000 });
  } catch (err) {
    // The agent runs fping itself: a failed exec (EPERM, EACCES, ENOENT) lands here.
    return { state: 'broken', detail: errorLine(err) };
  }
  if (/min\/avg\/max/.test(probe.stderr)) return { state: 'answers' };
  const failed = execFailure(probe);
  if (failed !== undefined) return { state: 'broken', detail: failed };
  // fping: 3 bad arguments, 4 a failed system call (e.g. "can't create socket": ping_group_range).
  if (probe.exitCode === 3 || probe.exitCode === 4)
    return { state: 'broken', detail: lastLines(probe.stderr.trim(), 1) || `exit ${probe.exitCode}` };
  return { state: 'silent' };
}

/** Why a command could not be executed at all, when that is what its exit says (126/127 or a prefix's message). */
function execFailure(run: RunResult): string | undefined {
  const prefixFailed = PREFIX_EXEC_FAILED.exec(run.stderr)?.[0];
  if (prefixFailed !== undefined) return prefixFailed;
  if (run.exitCode === 126 || run.exitCode === 127)
    return `exit ${run.exitCode}: ${lastLines(run.stderr.trim(), 1) || (run.exitCode === 126 ? 'permission denied' : 'not found')}`;
  return undefined;
}
