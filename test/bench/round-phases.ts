import { PROBE_PHASES, RUNNER_PHASES, type TestPhase } from '../../layers/domain/phases.ts';
import { median } from './report.ts';

/**
 * The round bench's arithmetic, kept pure so a unit test can pin it:
 * phase events (from ProbeDeps.onPhase) -> one cycle per pair -> medians.
 */
export interface PhaseEvent {
  phase: TestPhase;
  startedAt: number;
  endedAt: number;
  /** `src>dst`. */
  pair: string;
}

/** One pair's test, from its message's receive to its lock's release. */
export interface Cycle {
  pair: string;
  /** Wall time of the cycle: first event's start to last event's end. */
  cycleMs: number;
  /** flent's own process time. */
  flentMs: number;
  /** cycle - flent: what the test costs beyond its measurement. */
  overheadMs: number;
  /** Milliseconds per phase (a phase that occurs twice, e.g. manifest, is summed). */
  phases: Partial<Record<TestPhase, number>>;
  /** Time between the probe's phases (code between them, event-loop waits). */
  probeGapsMs: number;
  /** Time inside `run` outside the runner's phases (temp dirs, pod specs, outcome parsing). */
  runGapsMs: number;
  /** flent-run - flent: ICMP check and archive read (local); agent start, upload, kubelet report and poll (Kubernetes). */
  aroundFlentMs: number;
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/** Cycles of the pairs that have a flent phase (measured tests), in order of their start. */
export function cyclesOf(events: readonly PhaseEvent[]): Cycle[] {
  const byPair = Map.groupBy(events, (event) => event.pair);
  const cycles: Array<Cycle & { start: number }> = [];
  for (const [pair, own] of byPair) {
    const phases: Partial<Record<TestPhase, number>> = {};
    for (const event of own)
      phases[event.phase] = (phases[event.phase] ?? 0) + (event.endedAt - event.startedAt);
    const flentMs = phases.flent;
    if (flentMs === undefined) continue;
    const start = Math.min(...own.map((e) => e.startedAt));
    const cycleMs = Math.max(...own.map((e) => e.endedAt)) - start;
    const of = (names: readonly TestPhase[]): number => sum(names.map((name) => phases[name] ?? 0));
    cycles.push({
      pair,
      start,
      cycleMs,
      flentMs,
      overheadMs: cycleMs - flentMs,
      phases,
      probeGapsMs: cycleMs - of(PROBE_PHASES),
      runGapsMs: (phases.run ?? 0) - of(RUNNER_PHASES),
      aroundFlentMs: (phases['flent-run'] ?? 0) - flentMs,
    });
  }
  return cycles.sort((a, b) => a.start - b.start).map(({ start: _, ...cycle }) => cycle);
}

/** The rows of an overhead breakdown: every part of a cycle except flent, in the order they happen. */
export const OVERHEAD_ROWS = [
  'receive',
  'lock',
  'manifest',
  'nodes',
  'server-ready',
  'client-start',
  'around flent',
  'clock',
  'cleanup',
  'run gaps',
  'upload',
  'metrics',
  'delete',
  'release',
  'probe gaps',
] as const;
export type OverheadRow = (typeof OVERHEAD_ROWS)[number];

/** Rows computed from the others rather than reported by a hook. */
const DERIVED: ReadonlySet<OverheadRow> = new Set(['around flent', 'run gaps', 'probe gaps']);

function rowOf(cycle: Cycle, row: OverheadRow): number {
  if (row === 'around flent') return cycle.aroundFlentMs;
  if (row === 'run gaps') return cycle.runGapsMs;
  if (row === 'probe gaps') return cycle.probeGapsMs;
  return cycle.phases[row] ?? 0;
}

export interface Breakdown {
  tests: number;
  cycleMs: number;
  flentMs: number;
  overheadMs: number;
  /** Median of each row; rows no cycle had (a runner's phase the other lacks) are left out. */
  rows: Array<{ row: OverheadRow; ms: number }>;
}

/**
 * Medians over a round's cycles. The rows add up to the overhead of each
 * cycle; their medians add up to roughly the median overhead.
 */
export function breakdown(cycles: readonly Cycle[]): Breakdown {
  return {
    tests: cycles.length,
    cycleMs: median(cycles.map((c) => c.cycleMs)),
    flentMs: median(cycles.map((c) => c.flentMs)),
    overheadMs: median(cycles.map((c) => c.overheadMs)),
    rows: OVERHEAD_ROWS.filter(
      (row) => DERIVED.has(row) || cycles.some((c) => c.phases[row as TestPhase] !== undefined),
    ).map((row) => ({ row, ms: median(cycles.map((c) => rowOf(c, row))) })),
  };
}

/** A round's wall time from its events: the first phase's start to the last phase's end. */
export function spanMs(events: readonly PhaseEvent[]): number {
  if (events.length === 0) return 0;
  return Math.max(...events.map((e) => e.endedAt)) - Math.min(...events.map((e) => e.startedAt));
}

/** The ideal disjoint/serial ratio: 2(N-1) slots (2N for odd N) against N(N-1) tests, slots split by maxParallel. */
export function idealRatio(nodes: number, maxParallel: number): number {
  const slots = nodes % 2 === 0 ? 2 * (nodes - 1) : 2 * nodes;
  const perSlot = Math.floor(nodes / 2);
  return (slots * Math.ceil(perSlot / maxParallel)) / (nodes * (nodes - 1));
}
