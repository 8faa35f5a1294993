import { describe, expect, it } from 'vitest';
import { timed } from '../../layers/domain/phases.ts';
import { breakdown, cyclesOf, idealRatio, type PhaseEvent, spanMs } from '../bench/round-phases.ts';

/** One local test's events as the probe and the local runner report them, from t (ms). */
function localTest(pair: string, t: number, flentMs: number): PhaseEvent[] {
  const at = (phase: PhaseEvent['phase'], from: number, to: number): PhaseEvent => ({
    phase,
    startedAt: t + from,
    endedAt: t + to,
    pair,
  });
  return [
    at('receive', 0, 10),
    at('lock', 10, 12),
    at('manifest', 12, 20),
    at('nodes', 20, 25),
    at('manifest', 25, 35),
    at('run', 40, 1340),
    at('server-ready', 45, 145),
    at('clock', 145, 175),
    at('flent-run', 175, 1275),
    at('clock', 1275, 1305),
    at('cleanup', 1305, 1335),
    // Reported once run returns: its length is flent's, its place the end of run.
    at('flent', 1340 - flentMs, 1340),
    at('upload', 1340, 1360),
    at('metrics', 1360, 1380),
    at('manifest', 1380, 1390),
    at('delete', 1390, 1395),
    at('release', 1395, 1400),
  ];
}

describe('round bench: phases of a test cycle', () => {
  it('a cycle spans its first to its last event; overhead is the cycle minus flent', () => {
    const [cycle] = cyclesOf(localTest('a>b', 1000, 1000));
    expect(cycle?.cycleMs).toBe(1400);
    expect(cycle?.flentMs).toBe(1000);
    expect(cycle?.overheadMs).toBe(400);
  });

  it('sums a phase that happens more than once, and splits the rest into gaps', () => {
    const [cycle] = cyclesOf(localTest('a>b', 0, 1000));
    expect(cycle?.phases.manifest).toBe(8 + 10 + 10);
    expect(cycle?.phases.clock).toBe(60);
    // Probe phases cover 1400 - 5 (35..40 between manifest and run).
    expect(cycle?.probeGapsMs).toBe(5);
    // run (1300) - server-ready 100 - clock 60 - flent-run 1100 - cleanup 30.
    expect(cycle?.runGapsMs).toBe(10);
    expect(cycle?.aroundFlentMs).toBe(100);
  });

  it('the rows of a cycle add up to its overhead', () => {
    const { rows, overheadMs } = breakdown(cyclesOf(localTest('a>b', 0, 1000)));
    expect(rows.reduce((sum, r) => sum + r.ms, 0)).toBe(overheadMs);
    // A local test has no client pod: its row is left out.
    expect(rows.map((r) => r.row)).not.toContain('client-start');
  });

  it('takes medians over the round and leaves out pairs that measured nothing', () => {
    const events = [
      ...localTest('a>b', 0, 1000),
      ...localTest('b>a', 2000, 1100),
      ...localTest('a>c', 4000, 1300),
      // A failed test: no flent phase.
      ...localTest('c>a', 6000, 1000).filter((e) => e.phase !== 'flent'),
    ];
    const cycles = cyclesOf(events);
    expect(cycles.map((c) => c.pair)).toEqual(['a>b', 'b>a', 'a>c']);
    const result = breakdown(cycles);
    expect(result.tests).toBe(3);
    expect(result.cycleMs).toBe(1400);
    expect(result.flentMs).toBe(1100);
    expect(result.overheadMs).toBe(300);
    expect(spanMs(events)).toBe(7400);
  });

  it('the ideal disjoint/serial ratio: 2(N-1) slots of N(N-1) tests, split slots counted', () => {
    expect(idealRatio(8, 4)).toBe(0.25);
    expect(idealRatio(4, 4)).toBe(0.5);
    // Slots of 4 at most 2 at once: twice as many slots.
    expect(idealRatio(8, 2)).toBe(0.5);
    // N odd: 2N slots of (N-1)/2 pairs.
    expect(idealRatio(5, 4)).toBe(0.5);
  });

  it('timed reports a phase that throws too, and costs nothing without a hook', async () => {
    const seen: string[] = [];
    await expect(
      timed(
        (phase) => seen.push(phase),
        'lock',
        async () => {
          throw new Error('taken');
        },
      ),
    ).rejects.toThrow('taken');
    expect(seen).toEqual(['lock']);
    expect(await timed(undefined, 'lock', async () => 7)).toBe(7);
  });
});
