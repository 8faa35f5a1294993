import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairKey } from '../../layers/domain/pairs.ts';
import type { Schedule } from '../../layers/domain/schedule.ts';
import { type PlanDeps, plan } from '../../layers/pipeline/plan.ts';
import { latestManifest, saveManifest } from '../../layers/pipeline/round.ts';
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
    }
    await saveManifest(deps.store, manifest);
    const later = new Date('2026-11-26T12:00:00Z');
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
    await saveManifest(deps.store, manifest);
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
});
