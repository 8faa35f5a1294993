import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runner } from '../../layers/domain/runner.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { plan } from '../../layers/pipeline/plan.ts';
import { probe } from '../../layers/pipeline/probe.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { planDepsFrom, probeDepsFrom, schedulesFrom, storeFrom } from '../../layers/wiring/context.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { roundRecords } from '../helpers/rounds.ts';
import { startToxiproxy, type ToxicProxy, type Toxiproxy } from '../helpers/toxiproxy.ts';

/**
 * S3 away while a test's result is being stored (issue 14, "nothing lost"):
 * the local runner's probe keeps the archive and the record in its spool
 * (<NETMON_WORK_DIR>/spool) and the next run delivers them, exactly one
 * result per pair. Toxiproxy stands between the probe and the real s3rver;
 * the probe's real runner tests two loopback nodes, and the test turns S3
 * away the moment the first test ends, before its upload.
 */

const NODES = [
  { name: 's1', address: '127.0.0.4', ready: true, labels: {} },
  { name: 's2', address: '127.0.0.5', ready: true, labels: {} },
];

let fixture: StackFixture;
let toxiproxy: Toxiproxy;
let s3: ToxicProxy;
let store: ObjectStore;

beforeAll(async () => {
  [fixture, toxiproxy] = await Promise.all([
    startStackFixture({ visibilityTimeoutSeconds: 10 }),
    startToxiproxy(),
  ]);
  await fixture.writeNodes(NODES);
  store = storeFrom(fixture.env);
  s3 = await toxiproxy.proxy('s3', fixture.env.NETMON_S3_ENDPOINT as string);
}, 300_000);

afterAll(async () => {
  await toxiproxy?.stop();
  await fixture?.stop();
});

function envFor(schedule: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...fixture.env,
    NETMON_S3_ENDPOINT: s3.url,
    NETMON_CONNECT_TIMEOUT_SECONDS: '1',
    NETMON_REQUEST_TIMEOUT_SECONDS: '2',
    // A blip is retried; S3 away longer than this goes to the spool.
    NETMON_STORE_RETRY_SECONDS: '2',
    NETMON_WORK_DIR: join(fixture.dir, `runs-${schedule}`),
    NETMON_SCHEDULES: JSON.stringify([{ name: schedule, cron: '* * * * *', test: 'ping', lengthSeconds: 1 }]),
    NETMON_NETSERVER_PORT: String(25_000 + Math.floor(Math.random() * 2000)),
    NETMON_IRTT_PORT: String(27_000 + Math.floor(Math.random() * 2000)),
    ...overrides,
  };
}

/** The probe's own runner; S3 goes away when the first test has ended, before anything is stored. */
function awayAfterFirstTest(runner: Runner): Runner {
  let tests = 0;
  return {
    ...runner,
    run: async (request, hooks) => {
      const outcome = await runner.run(request, hooks);
      if (++tests === 1) await s3.down();
      return outcome;
    },
  };
}

async function planRound(env: NodeJS.ProcessEnv): Promise<string> {
  const [outcome] = await plan(await planDepsFrom(env), await (await schedulesFrom(env)).list());
  expect(outcome).toMatchObject({ action: 'opened', queued: 2 });
  return outcome?.round as string;
}

async function spooled(env: NodeJS.ProcessEnv): Promise<string[]> {
  return readdir(join(env.NETMON_WORK_DIR as string, 'spool')).catch(() => []);
}

describe('S3 away while a result is stored', () => {
  it('keeps the result and its archive in the spool; the next run stores them, one result per pair', async () => {
    const env = envFor('spooled');
    const round = await planRound(env);
    const deps = await probeDepsFrom(env);
    try {
      // The second message needs S3 to read its round: this run ends there, with S3's error.
      await expect(
        probe({ ...deps, runner: awayAfterFirstTest(deps.runner), waitSeconds: 1 }),
      ).rejects.toThrow(/127\.0\.0\.1|ECONNREFUSED|socket|timed out|connect/i);
    } finally {
      await s3.heal();
    }
    const [folder, ...others] = await spooled(env);
    expect(others).toEqual([]);
    expect((await readdir(join(env.NETMON_WORK_DIR as string, 'spool', folder as string))).sort()).toEqual([
      'archive.flent.gz',
      'record.json',
    ]);
    expect(await roundRecords(store, 'spooled', round)).toEqual([]);

    const report = await probe({ ...(await probeDepsFrom(env)), waitSeconds: 1 });
    expect(report.tests).toBe(1);
    expect(await spooled(env)).toEqual([]);
    const records = await roundRecords(store, 'spooled', round);
    expect(records.map((r) => `${r.src}>${r.dst}`).sort()).toEqual(['s1>s2', 's2>s1']);
    expect(records.every((r) => r.connectivity === 1)).toBe(true);
    for (const record of records) {
      const archive = await store.getBytes(record.archiveKey as string);
      expect(archive, `${record.src}>${record.dst}'s archive`).toBeDefined();
      expect(parseArchive(Buffer.from(archive ?? [])).metadata).toBeDefined();
    }
    const manifest = await latestManifest(store, 'spooled');
    expect(manifest?.counts).toEqual({ total: 2, done: 2, failed: 0, skipped: 0 });
    expect(manifest?.pairs.every((p) => p.attempts === 1)).toBe(true);
    expect(manifest?.closedAt).not.toBeNull();
  }, 120_000);

  it('keeps nothing beyond NETMON_SPOOL_MAX_BYTES: the message comes back and the pair is tested again', async () => {
    const env = envFor('unspooled', { NETMON_SPOOL_MAX_BYTES: '0' });
    const round = await planRound(env);
    const deps = await probeDepsFrom(env);
    try {
      await expect(
        probe({ ...deps, runner: awayAfterFirstTest(deps.runner), waitSeconds: 1 }),
      ).rejects.toThrow();
    } finally {
      await s3.heal();
    }
    expect(await spooled(env)).toEqual([]);
    const report = await probe({ ...(await probeDepsFrom(env)), waitSeconds: 1 });
    expect(report.tests).toBe(2);
    const records = await roundRecords(store, 'unspooled', round);
    expect(records.map((r) => `${r.src}>${r.dst}`).sort()).toEqual(['s1>s2', 's2>s1']);
    const manifest = await latestManifest(store, 'unspooled');
    expect(manifest?.pairs.map((p) => p.attempts).sort()).toEqual([1, 2]);
    expect(manifest?.closedAt).not.toBeNull();
  }, 120_000);
});
