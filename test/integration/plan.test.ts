import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairKey } from '../../layers/domain/pairs.ts';
import type { RoundPair } from '../../layers/domain/round.ts';
import type { Schedule } from '../../layers/domain/schedule.ts';
import { type PlanDeps, plan, planFailures } from '../../layers/pipeline/plan.ts';
import { latestManifest, loadManifest, saveHead, savePairEvent } from '../../layers/pipeline/round.ts';
import { planDepsFrom } from '../../layers/wiring/context.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';

/** plan against real s3rver and local-aws-sqs; time is injected, no test runs. */
let fixture: StackFixture;
let deps: PlanDeps;

const nodes = ['n1', 'n2', 'n3', 'n4'].map((name, i) => ({
  name,
  address: `198.18.9.${10 + i}`,
  ready: true,
  labels: {},
}));

function schedule(name: string, extra: Partial<Schedule> = {}): Schedule {
  return { name, cron: '*/10 * * * *', test: 'ping', lengthSeconds: 2, ...extra };
}

async function drain(): Promise<Array<{ src: string; dst: string; round: string; schedule: string }>> {
  const bodies = [];
  for (;;) {
    const message = await deps.queue.receive(0);
    if (message === undefined) return bodies;
    bodies.push(message.body);
    await deps.queue.delete(message.receiptHandle);
  }
}

beforeAll(async () => {
  fixture = await startStackFixture();
  await fixture.writeNodes(nodes);
  deps = await planDepsFrom(fixture.env);
});
afterAll(() => fixture?.stop());

describe('plan', () => {
  it('opens a round when due and queues every ordered pair once, spread across nodes', async () => {
    const at = new Date('2026-11-26T10:03:00Z');
    const [outcome] = await plan({ ...deps, now: () => at }, [schedule('s1')]);
    expect(outcome).toEqual({ schedule: 's1', action: 'opened', round: '20261126T100000.000Z', queued: 12 });
    const bodies = await drain();
    expect(bodies).toHaveLength(12);
    expect(new Set(bodies.map(pairKey)).size).toBe(12);
    for (let i = 1; i < bodies.length; i++) {
      const [p, q] = [bodies[i - 1], bodies[i]];
      // Four nodes force at most two hand-overs where consecutive pairs share a node.
      if (p && q) expect([p.src, p.dst].includes(q.src) && [p.src, p.dst].includes(q.dst)).toBe(false);
    }
    const manifest = await latestManifest(deps.store, 's1');
    expect(manifest?.pairs.map((p) => p.state)).toEqual(Array(12).fill('queued'));
    expect(manifest?.scheduledAt).toBe('2026-11-26T10:00:00.000Z');
  });

  it('waits while a round is open, and does not open another for the same tick', async () => {
    const [waiting] = await plan({ ...deps, now: () => new Date('2026-11-26T10:04:00Z') }, [schedule('s1')]);
    expect(waiting).toMatchObject({ action: 'waiting', remaining: 12 });
    expect(await drain()).toHaveLength(0);
  });

  it('queues again the pairs whose messages were lost, and only those', async () => {
    const manifest = await latestManifest(deps.store, 's1');
    if (!manifest) throw new Error('no manifest');
    for (const pair of manifest.pairs.slice(0, 10)) {
      pair.state = 'done';
      pair.finishedAt = '2026-11-26T10:05:00.000Z';
      await savePairEvent(deps.store, manifest, pair);
    }
    // 22 minutes after it was sent, before its deadline (10:30).
    const later = new Date('2026-11-26T10:25:00Z');
    const [outcome] = await plan({ ...deps, now: () => later, requeueAfterSeconds: 600 }, [schedule('s1')]);
    expect(outcome).toMatchObject({ action: 'requeued', queued: 2 });
    const bodies = await drain();
    expect(bodies.map(pairKey).sort()).toEqual(manifest.pairs.slice(10).map(pairKey).sort());
  });

  it('closes a finished round and opens the next at the next tick, stalest pairs first', async () => {
    const manifest = await latestManifest(deps.store, 's1');
    if (!manifest) throw new Error('no manifest');
    manifest.pairs.forEach((pair, i) => {
      pair.state = 'done';
      // The last pairs of the list were tested longest ago.
      pair.finishedAt = new Date(Date.UTC(2026, 10, 26, 10, 30, 60 - i)).toISOString();
    });
    for (const pair of manifest.pairs) await savePairEvent(deps.store, manifest, pair);
    const [outcome] = await plan({ ...deps, now: () => new Date('2026-11-26T10:41:00Z') }, [schedule('s1')]);
    expect(outcome).toMatchObject({ action: 'opened', round: '20261126T104000.000Z', queued: 12 });
    const previous = manifest.pairs.map(pairKey);
    const bodies = await drain();
    expect(pairKey(bodies[0] as { src: string; dst: string })).toBe(previous[previous.length - 1]);
    const rounds = await deps.store.list('rounds/s1/');
    expect(rounds).toHaveLength(2);
    const closed = await deps.store.getBytes(rounds[0] as string);
    expect(JSON.parse(Buffer.from(closed ?? []).toString()).closedAt).toBe('2026-11-26T10:41:00.000Z');
  });

  it('is not due before the next tick, skips suspended schedules and clusters of one node', async () => {
    const [notDue] = await plan({ ...deps, now: () => new Date('2026-11-26T10:05:00Z') }, [schedule('s2')]);
    expect(notDue?.action).toBe('opened');
    await drain();
    const [suspended] = await plan({ ...deps, now: () => new Date('2026-11-26T10:05:00Z') }, [
      schedule('s3', { suspend: true }),
    ]);
    expect(suspended?.action).toBe('suspended');
    await fixture.writeNodes(nodes.map((n, i) => ({ ...n, ready: i === 0 })));
    const [few] = await plan({ ...deps, now: () => new Date('2026-11-26T10:05:00Z') }, [schedule('s4')]);
    expect(few?.action).toBe('too-few-nodes');
    expect(await drain()).toHaveLength(0);
    await fixture.writeNodes(nodes);
  });

  it('plans the other schedules when one manifest is unreadable, and fails the run naming it', async () => {
    const at = new Date('2026-11-26T11:01:00Z');
    const [opened] = await plan({ ...deps, now: () => at }, [schedule('broken')]);
    expect(opened?.action).toBe('opened');
    await drain();
    const [key] = await deps.store.list('rounds/broken/');
    // A truncated write: the first half of the manifest.
    const bytes = Buffer.from((await deps.store.getBytes(key as string)) ?? []);
    await deps.store.putText(
      key as string,
      bytes.subarray(0, bytes.length / 2).toString(),
      'application/json',
    );
    const outcomes = await plan({ ...deps, now: () => new Date('2026-11-26T11:11:00Z') }, [
      schedule('broken'),
      schedule('healthy'),
    ]);
    expect(outcomes[0]).toMatchObject({ schedule: 'broken', action: 'failed', round: null });
    expect(outcomes[0] && 'message' in outcomes[0] ? outcomes[0].message : '').toContain(key);
    expect(outcomes[1]).toMatchObject({ schedule: 'healthy', action: 'opened', queued: 12 });
    expect(await drain()).toHaveLength(12);
    expect(planFailures(outcomes)?.message).toMatch(
      /^1 of 2 schedules not planned: broken: .*not valid JSON/,
    );
    expect(planFailures(outcomes.slice(1))).toBeUndefined();
  });

  it('sends a round again at the next plan when SQS refused its first send (no hour-long stall)', async () => {
    const refusing = await planDepsFrom({
      ...fixture.env,
      NETMON_SQS_QUEUE_URL: `${fixture.env.NETMON_SQS_QUEUE_URL}-gone`,
    });
    const at = new Date('2026-11-26T12:01:00Z');
    const [failed] = await plan({ ...refusing, now: () => at }, [schedule('refused')]);
    expect(failed).toMatchObject({ schedule: 'refused', action: 'failed' });
    expect(await drain()).toHaveLength(0);
    // One minute later, with SQS answering again and the default requeue delay of an hour.
    const [again] = await plan({ ...deps, now: () => new Date('2026-11-26T12:02:00Z') }, [
      schedule('refused'),
    ]);
    expect(again).toMatchObject({ action: 'requeued', round: '20261126T120000.000Z', queued: 12 });
    expect((await drain()).map(pairKey).sort()).toHaveLength(12);
    const [waiting] = await plan({ ...deps, now: () => new Date('2026-11-26T12:03:00Z') }, [
      schedule('refused'),
    ]);
    expect(waiting).toMatchObject({ action: 'waiting', remaining: 12 });
  });

  it('closes a round at its deadline: untested pairs skipped as round-deadline, a late result still counts', async () => {
    const [opened] = await plan({ ...deps, now: () => new Date('2026-11-26T13:01:00Z') }, [schedule('late')]);
    expect(opened).toMatchObject({ action: 'opened', round: '20261126T130000.000Z' });
    await drain();
    const manifest = await latestManifest(deps.store, 'late');
    if (!manifest) throw new Error('no manifest');
    // 12 pairs of ping 2 s (46 s each at most), twice: 1104 s after 13:01, then the next tick.
    expect(manifest.deadlineAt).toBe('2026-11-26T13:20:00.000Z');
    const [first, second, inTest] = manifest.pairs as [RoundPair, RoundPair, RoundPair];
    for (const pair of [first, second]) {
      Object.assign(pair, { state: 'done', finishedAt: '2026-11-26T13:02:00.000Z', connectivity: 1 });
      await savePairEvent(deps.store, manifest, pair);
    }
    Object.assign(inTest, { startedAt: '2026-11-26T13:19:50.000Z', attempts: 1, runId: 'late-run' });
    await savePairEvent(deps.store, manifest, inTest);
    const [waiting] = await plan({ ...deps, now: () => new Date('2026-11-26T13:19:59Z') }, [
      schedule('late'),
    ]);
    expect(waiting).toMatchObject({ action: 'waiting', remaining: 10 });
    // At the deadline (a tick): the round closes and the next one opens in the same plan run.
    const [next] = await plan({ ...deps, now: () => new Date('2026-11-26T13:20:00Z') }, [schedule('late')]);
    expect(next).toMatchObject({ action: 'opened', round: '20261126T132000.000Z', queued: 12 });
    await drain();
    const closed = await loadManifest(deps.store, 'late', manifest.round);
    expect(closed?.closedAt).toBe('2026-11-26T13:20:00.000Z');
    expect(closed?.counts).toEqual({ total: 12, done: 2, failed: 0, skipped: 10 });
    const skipped = closed?.pairs.filter((p) => p.state === 'skipped') ?? [];
    expect(skipped.every((p) => p.reason?.startsWith('round-deadline:'))).toBe(true);
    // The test that was running ends after the deadline: its measurement beats the skip.
    Object.assign(inTest, { state: 'done', finishedAt: '2026-11-26T13:20:05.000Z', connectivity: 1 });
    await savePairEvent(deps.store, manifest, inTest);
    const after = await loadManifest(deps.store, 'late', manifest.round);
    expect(after?.counts).toEqual({ total: 12, done: 3, failed: 0, skipped: 9 });
    expect(after?.pairs.find((p) => p.runId === 'late-run')).toMatchObject({ state: 'done', attempts: 1 });
  });

  it('a head written from a view read before a probe finished a pair (plan requeueing) leaves that pair done', async () => {
    const [opened] = await plan({ ...deps, now: () => new Date('2026-11-26T15:01:00Z') }, [schedule('race')]);
    expect(opened?.action).toBe('opened');
    await drain();
    const stale = await latestManifest(deps.store, 'race');
    const fresh = await latestManifest(deps.store, 'race');
    if (!stale || !fresh) throw new Error('no manifest');
    // The probe finishes a pair after plan read the round...
    const finished = fresh.pairs[0] as RoundPair;
    Object.assign(finished, { state: 'done', finishedAt: '2026-11-26T15:10:00.000Z', connectivity: 1 });
    await savePairEvent(deps.store, fresh, finished);
    // ...and plan, from its older view, requeues every pair it thinks unfinished.
    const [requeued] = await plan(
      { ...deps, now: () => new Date('2026-11-26T15:15:00Z'), requeueAfterSeconds: 600 },
      [schedule('race')],
    );
    expect(requeued).toMatchObject({ action: 'requeued', queued: 11 });
    await saveHead(deps.store, stale);
    const after = await loadManifest(deps.store, 'race', stale.round);
    expect(after?.pairs.find((p) => p.src === finished.src && p.dst === finished.dst)).toMatchObject({
      state: 'done',
      connectivity: 1,
    });
    expect(after?.counts).toMatchObject({ done: 1, skipped: 0 });
    expect((await drain()).map(pairKey)).not.toContain(pairKey(finished));
  });

  it('takes a round deadline from NETMON_ROUND_DEADLINE_SECONDS, and names the setting when it is wrong', async () => {
    const short = await planDepsFrom({ ...fixture.env, NETMON_ROUND_DEADLINE_SECONDS: '300' });
    expect(short.roundDeadlineSeconds).toBe(300);
    const [opened] = await plan({ ...short, now: () => new Date('2026-11-26T14:01:00Z') }, [
      schedule('short'),
    ]);
    expect(opened?.action).toBe('opened');
    await drain();
    expect((await latestManifest(deps.store, 'short'))?.deadlineAt).toBe('2026-11-26T14:06:00.000Z');
    const [closed] = await plan({ ...short, now: () => new Date('2026-11-26T14:06:00Z') }, [
      schedule('short'),
    ]);
    expect(closed).toMatchObject({ action: 'deadline', round: '20261126T140000.000Z', skipped: 12 });
    await expect(planDepsFrom({ ...fixture.env, NETMON_ROUND_DEADLINE_SECONDS: '10' })).rejects.toThrow(
      /NETMON_ROUND_DEADLINE_SECONDS.*10.*whole seconds from 60 to 604800/,
    );
  });

  it('takes the requeue delay from NETMON_REQUEUE_AFTER_SECONDS, and names the setting when it is wrong', async () => {
    expect(
      (await planDepsFrom({ ...fixture.env, NETMON_REQUEUE_AFTER_SECONDS: '120' })).requeueAfterSeconds,
    ).toBe(120);
    await expect(planDepsFrom({ ...fixture.env, NETMON_REQUEUE_AFTER_SECONDS: '5' })).rejects.toThrow(
      /NETMON_REQUEUE_AFTER_SECONDS.*5.*whole seconds from 60 to 86400/,
    );
  });
});
