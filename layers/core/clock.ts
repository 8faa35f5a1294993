import { readFile } from 'node:fs/promises';
import type { ClockState } from '../domain/clock.ts';
import { findOnPath } from './host.ts';
import { runProcess } from './process.ts';

/**
 * Reads this host's clock state for one-way delays (layers/domain/clock.ts):
 * chrony's tracking when chronyc answers (offset, root delay and dispersion
 * give a founded bound), else the kernel's adjtimex figures (maxerror,
 * STA_UNSYNC), which need no privilege. Node has no adjtimex binding, so a
 * few lines of Python (there wherever Flent is) call it through ctypes.
 */

/** The kernel's state of the clock: adjtimex(2) with modes 0 (read only). */
const ADJTIMEX_SCRIPT = `
import ctypes, ctypes.util, json
class timeval(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long)]
class timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time", timeval), ("tick", ctypes.c_long), ("rest", ctypes.c_long * 20)]
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
t = timex()
state = libc.adjtimex(ctypes.byref(t))
print(json.dumps({"state": state, "status": t.status, "maxerrorMicros": t.maxerror, "esterrorMicros": t.esterror}))
`;

const STA_UNSYNC = 0x0040;
const TIME_ERROR = 5;
const PYTHON = '/usr/bin/python3';
const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/** adjtimex's figures as the script prints them: synchronised unless STA_UNSYNC or TIME_ERROR; bound = maxerror. */
export function parseKernelClock(json: string, clockId: string | null): ClockState {
  const figures = JSON.parse(json) as { state: number; status: number; maxerrorMicros: number };
  if (![figures.state, figures.status, figures.maxerrorMicros].every(Number.isFinite))
    throw new Error(`adjtimex figures not understood: ${json.trim()}`);
  return {
    clockId,
    synchronised: (figures.status & STA_UNSYNC) === 0 && figures.state !== TIME_ERROR,
    errorBoundSeconds: figures.maxerrorMicros / 1e6,
    source: 'kernel',
  };
}

/**
 * `chronyc -c tracking`: reference id, name, stratum, ref time, system time
 * offset, last offset, RMS offset, frequency, residual frequency, skew, root
 * delay, root dispersion, update interval, leap status. Bound = |offset| +
 * root dispersion + root delay / 2; not synchronised when the leap status
 * says so (or the reference is none).
 */
export function parseChronyTracking(csv: string, clockId: string | null): ClockState {
  const fields = csv.trim().split('\n')[0]?.split(',') ?? [];
  if (fields.length < 14) throw new Error(`chronyc tracking output not understood: ${csv.trim()}`);
  const number = (index: number): number => Number(fields[index]);
  const offset = number(4);
  const rootDelay = number(10);
  const rootDispersion = number(11);
  const leap = fields[13] ?? '';
  const finite = [offset, rootDelay, rootDispersion].every(Number.isFinite);
  return {
    clockId,
    synchronised: finite && leap !== 'Not synchronised' && fields[0] !== '00000000',
    errorBoundSeconds: finite ? Math.abs(offset) + rootDispersion + rootDelay / 2 : null,
    source: 'chrony',
  };
}

async function bootId(): Promise<string | null> {
  return (await readFile(BOOT_ID, 'utf8').catch(() => '')).trim() || null;
}

/** This host's clock: chrony when it answers within a second, else the kernel; undefined when neither can be read. */
export async function readClockState(): Promise<ClockState | undefined> {
  const id = await bootId();
  const chronyc = findOnPath('chronyc');
  if (chronyc !== undefined) {
    const tracking = await runProcess([chronyc, '-c', '-n', 'tracking'], { timeoutMs: 1000 }).catch(
      () => undefined,
    );
    if (tracking?.exitCode === 0) {
      try {
        return parseChronyTracking(tracking.stdout, id);
      } catch {
        // An older or odd chronyc: the kernel's figures below.
      }
    }
  }
  // No Python (it comes with Flent): the state is unknown, and one-way delays untrusted.
  const kernel = await runProcess([PYTHON, '-c', ADJTIMEX_SCRIPT], { timeoutMs: 5000 }).catch(
    () => undefined,
  );
  if (kernel?.exitCode !== 0) return undefined;
  try {
    return parseKernelClock(kernel.stdout, id);
  } catch {
    return undefined;
  }
}

/**
 * The server pod's clock container prints one of these lines per reading
 * (functions/agent: `agent.js clock`); the runner reads them from its log.
 */
const CLOCK_LINE_KEY = 'netmonClock';

export function formatClockLine(state: ClockState | undefined): string {
  return `${JSON.stringify({ [CLOCK_LINE_KEY]: state ?? null })}\n`;
}

/** Every reading in a clock container's log, oldest first; null for a reading that found no clock. */
export function parseClockLog(text: string): Array<ClockState | null> {
  const readings: Array<ClockState | null> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`{"${CLOCK_LINE_KEY}"`)) continue;
    try {
      const value = (JSON.parse(line) as Record<string, unknown>)[CLOCK_LINE_KEY];
      readings.push(isClockState(value) ? value : null);
    } catch {
      // A line cut off when the container was stopped: the others still count.
    }
  }
  return readings;
}

function isClockState(value: unknown): value is ClockState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    (v.clockId === null || typeof v.clockId === 'string') &&
    typeof v.synchronised === 'boolean' &&
    (v.errorBoundSeconds === null || typeof v.errorBoundSeconds === 'number') &&
    (v.source === 'kernel' || v.source === 'chrony')
  );
}
