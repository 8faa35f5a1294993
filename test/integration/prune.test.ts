import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneGroups } from '../../layers/metrics/prune.ts';
import { pushRecord } from '../../layers/metrics/push.ts';
import { pushRoundProgress } from '../../layers/metrics/rounds.ts';
import { pushSweep } from '../../layers/metrics/sweep.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { testRecord } from '../helpers/records.ts';

/**
 * Groups of nodes and schedules that are gone, against a real Pushgateway:
 * deleted once older than the retention, nothing else touched.
 */
let fixture: StackFixture;
let gateway: string;

interface Group {
  labels: Record<string, string>;
}

async function groups(): Promise<string[]> {
  const response = await fetch(`${gateway}/api/v1/metrics`);
  const { data } = (await response.json()) as { data: Group[] };
  return data
    .map(({ labels }) =>
      Object.entries(labels)
        .filter(([k]) => k !== 'instance')
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    )
    .sort();
}

const sweepPair = (src: string, dst: string) => ({
  src,
  dst,
  sent: 10,
  received: 10,
  connectivity: 1 as const,
  lossRatio: 0,
  rttMinSeconds: 0.001,
  rttMedianSeconds: 0.001,
  rttP99Seconds: 0.002,
  underLoad: false,
});

beforeAll(async () => {
  fixture = await startStackFixture();
  gateway = fixture.stack.pushgatewayUrl;
  const push = (schedule: string, src: string, dst: string) =>
    pushRecord(gateway, testRecord({ schedule, src, dst, test: 'ping' }));
  await Promise.all([
    push('s1', 'a', 'b'),
    push('s1', 'a', 'c'),
    push('s1', 'c', 'a'),
    push('s2', 'a', 'b'),
    push('s1', 'we/ird', 'a'),
    pushSweep(gateway, 'a', [sweepPair('a', 'b'), sweepPair('a', 'c')], new Date()),
    pushSweep(gateway, 'c', [sweepPair('c', 'a')], new Date()),
    pushRoundProgress(gateway, {
      schedule: 's2',
      round: 'r',
      openedAt: new Date().toISOString(),
      closedAt: null,
      pairs: [{ state: 'queued' }],
    }),
  ]);
});
afterAll(() => fixture?.stop());

describe('pruning Pushgateway groups', () => {
  it('keeps the groups of a gone node or schedule while they are younger than the retention', async () => {
    const before = await groups();
    const report = await pruneGroups(gateway, {
      nodes: ['a', 'b'],
      schedules: ['s1'],
      retentionSeconds: 3600,
      now: new Date(),
    });
    expect(report.deleted).toEqual([]);
    expect(await groups()).toEqual(before);
  });

  it('deletes them after the retention, and only them (names needing base64 too)', async () => {
    const report = await pruneGroups(gateway, {
      nodes: ['a', 'b'],
      schedules: ['s1'],
      retentionSeconds: 3600,
      now: new Date(Date.now() + 3601_000),
    });
    expect(report.deleted.map((d) => d.why).sort()).toEqual([
      'node c is gone',
      'node c is gone',
      'node c is gone',
      'node we/ird is gone',
      'schedule s2 is gone',
      'schedule s2 is gone',
    ]);
    expect(report.kept).toBe(2);
    expect(await groups()).toEqual(['dst=b,job=netmon,schedule=s1,src=a', 'job=netmon_sweep,src=a']);
  });
});
