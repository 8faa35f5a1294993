/**
 * The phases of one test's cycle, as the probe and the runners report them
 * to whoever listens (`npm run bench -- round`: the overhead around flent,
 * phase by phase). Nothing in the product listens: the hook costs a call
 * and two clock reads per phase.
 *
 * Probe phases follow one another within a message's cycle; runner phases
 * lie inside `run`; `flent` is flent's own process time, reported once the
 * runner returns (its place in time is the end of `run`, its length is what
 * the flent process took).
 */
export const PROBE_PHASES = [
  /** The queue's receive of the message. */
  'receive',
  /** Taking the test lock (file lock or Lease). */
  'lock',
  /** Crashed runs' leftovers removed and the node list read. */
  'nodes',
  /** The round manifest read and written (start and end of each test), status observers told. */
  'manifest',
  /** The runner's run, from the request to its outcome. */
  'run',
  /** The archive and the result record stored. */
  'upload',
  /** The record's metrics pushed. */
  'metrics',
  /** The message deleted from the queue. */
  'delete',
  /** The test lock given back. */
  'release',
] as const;

export const RUNNER_PHASES = [
  /** Local: dst's servers started until they listen. Kubernetes: the server pod created until ready. */
  'server-ready',
  /** Kubernetes: the client pod created until it runs (past Pending). */
  'client-start',
  /** Around flent: local, the flent run (ICMP check, flent, archive read); Kubernetes, client running to done. */
  'flent-run',
  /** Clock state read: local, after flent (the reading before overlaps server-ready); Kubernetes, dst's from the server pod's log. */
  'clock',
  /** Servers stopped (local) or both pods deleted and gone (Kubernetes). */
  'cleanup',
] as const;

export type ProbePhase = (typeof PROBE_PHASES)[number];
export type RunnerPhase = (typeof RUNNER_PHASES)[number];
export type TestPhase = ProbePhase | RunnerPhase | 'flent';

/** Told of each phase as it ends, with its start and end (epoch milliseconds). */
export type PhaseHook = (phase: TestPhase, startedAt: number, endedAt: number) => void;

/** Runs `body` as `phase`: the hook hears of it when it ends, whether it succeeds or throws. */
export async function timed<T>(
  hook: PhaseHook | undefined,
  phase: TestPhase,
  body: () => Promise<T>,
): Promise<T> {
  if (hook === undefined) return body();
  const startedAt = Date.now();
  try {
    return await body();
  } finally {
    hook(phase, startedAt, Date.now());
  }
}
