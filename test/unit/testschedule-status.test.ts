import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../layers/core/errors.ts';
import { countPairs, type RoundManifest, type RoundPair } from '../../layers/domain/round.ts';
import {
  readyCondition,
  scheduleFromSpec,
  setCondition,
  type TestScheduleStatus,
  withRound,
} from '../../layers/k8s/testschedules.ts';

const T0 = new Date('2026-11-26T10:00:00Z');
const T1 = new Date('2026-11-26T10:05:00Z');

function manifest(round: string, states: RoundPair['state'][], closed = false): RoundManifest {
  const pairs = states.map((state, i) => ({
    src: `n${i}`,
    dst: `m${i}`,
    state,
    queuedAt: T0.toISOString(),
    startedAt: null,
    finishedAt: state === 'queued' ? null : T1.toISOString(),
    attempts: state === 'queued' ? 0 : 1,
    runId: null,
    connectivity: state === 'done' ? (1 as const) : null,
    reason: null,
  }));
  return {
    version: 1,
    schedule: 's',
    round,
    test: 'ping',
    lengthSeconds: 2,
    delaySeconds: null,
    hostNetwork: null,
    timeoutSeconds: null,
    nodeSelector: {},
    cron: '* * * * *',
    scheduledAt: T0.toISOString(),
    openedAt: T0.toISOString(),
    closedAt: closed ? T1.toISOString() : null,
    nodes: [],
    pairs,
    counts: countPairs(pairs),
  };
}

describe('TestSchedule status', () => {
  it('shows an open round as current with its progress, and a closed one as last completed', () => {
    const open = withRound({}, manifest('r1', ['done', 'failed', 'queued']), T1);
    expect(open).toMatchObject({
      round: 'r1',
      progress: '2/3',
      lastScheduleTime: T0.toISOString(),
      currentRound: { id: 'r1', total: 3, done: 1, failed: 1, skipped: 0 },
    });
    expect(open.conditions).toEqual([
      expect.objectContaining({ type: 'Progressing', status: 'True', reason: 'RoundOpen' }),
    ]);
    const closed = withRound(open, manifest('r1', ['done', 'failed', 'skipped'], true), T1);
    expect(closed.currentRound).toBeUndefined();
    expect(closed).toMatchObject({
      progress: '3/3',
      lastCompletedRound: { id: 'r1', closedAt: T1.toISOString(), done: 1, failed: 1, skipped: 1 },
    });
    expect(closed.conditions?.[0]).toMatchObject({ status: 'False', reason: 'RoundComplete' });
  });

  it('never goes backwards when writes arrive out of order', () => {
    const ahead = withRound({}, manifest('r1', ['done', 'done', 'queued']), T1);
    expect(withRound(ahead, manifest('r1', ['done', 'queued', 'queued']), T1)).toBe(ahead);
    const closed = withRound({}, manifest('r1', ['done', 'done'], true), T1);
    expect(withRound(closed, manifest('r1', ['done', 'queued']), T1)).toBe(closed);
    const newer = withRound({}, manifest('r2', ['queued']), T1);
    expect(withRound(newer, manifest('r1', ['done']), T1)).toBe(newer);
  });

  it("moves a condition's transition time only when its status changes", () => {
    const first = setCondition([], { type: 'Ready', status: 'True', reason: 'Scheduled' }, T0);
    const same = setCondition(
      first,
      { type: 'Ready', status: 'True', reason: 'Scheduled', message: 'x' },
      T1,
    );
    expect(same[0]?.lastTransitionTime).toBe(T0.toISOString());
    const flipped = setCondition(same, { type: 'Ready', status: 'False', reason: 'Suspended' }, T1);
    expect(flipped).toHaveLength(1);
    expect(flipped[0]?.lastTransitionTime).toBe(T1.toISOString());
  });

  it('says why a schedule is not running', () => {
    expect(readyCondition({ schedule: 's', action: 'suspended', round: null })).toMatchObject({
      status: 'False',
      reason: 'Suspended',
    });
    expect(
      readyCondition({ schedule: 's', action: 'too-few-nodes', round: null, message: '0 of 3 nodes' }),
    ).toMatchObject({ status: 'False', reason: 'NoMatchingNodes', message: '0 of 3 nodes' });
    expect(
      readyCondition({
        schedule: 's',
        action: 'failed',
        round: null,
        message: 's3://b/rounds/s/r.json: not valid JSON',
      }),
    ).toMatchObject({
      status: 'False',
      reason: 'PlanFailed',
      message: 's3://b/rounds/s/r.json: not valid JSON',
    });
    const status: TestScheduleStatus = {};
    expect(readyCondition({ schedule: 's', action: 'opened', round: 'r', queued: 2 }).status).toBe('True');
    expect(status).toEqual({});
  });
});

describe('TestSchedule spec', () => {
  it('becomes a pipeline schedule with the defaults of the CRD', () => {
    expect(
      scheduleFromSpec('hourly', {
        schedule: '0 * * * *',
        test: 'rrul',
        timeZone: 'Europe/Vienna',
        nodeSelector: { zone: 'a' },
        hostNetwork: false,
        timeoutSeconds: 120,
      }),
    ).toEqual({
      name: 'hourly',
      cron: '0 * * * *',
      timeZone: 'Europe/Vienna',
      test: 'rrul',
      lengthSeconds: 10,
      nodeSelector: { zone: 'a' },
      hostNetwork: false,
      timeoutSeconds: 120,
    });
  });

  it.each([
    [{ schedule: '99 * * * *', test: 'ping' }, 'spec.schedule'],
    [{ schedule: '0 * * * *', timeZone: 'Mars/Olympus', test: 'ping' }, 'spec.timeZone'],
    [{ schedule: '0 * * * *', test: 'iperf' }, 'spec.test'],
    [{ schedule: '0 * * * *', test: 'ping', length: 0 }, 'spec.length'],
  ])('refuses %j naming %s', (spec, field) => {
    expect(() => scheduleFromSpec('x', spec)).toThrow(ValidationError);
    expect(() => scheduleFromSpec('x', spec)).toThrow(field);
  });
});
