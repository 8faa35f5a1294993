import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CREDENTIAL_KEYS, loadConfig } from '../../layers/core/config.ts';
import { type ManagedProcess, waitFor } from '../../layers/core/process.ts';
import type { PlanOutcome } from '../../layers/domain/round.ts';
import type { ProbeReport } from '../../layers/pipeline/probe.ts';
import { loadManifest } from '../../layers/pipeline/round.ts';
import { ensureWorkQueue, makeSqsClient, WorkQueue } from '../../layers/queue/work-queue.ts';
import { resultPrefix, roundKey, roundPairsPrefix } from '../../layers/store/keys.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe } from '../helpers/probes.ts';
import { describeProcess, type ProcessMark, processMark, runs } from '../helpers/process-mark.ts';
import { roundRecords } from '../helpers/rounds.ts';
import { startToxiproxy, type Toxiproxy } from '../helpers/toxiproxy.ts';

/**
 * Issue 14: a probe (local runner) SIGKILLed at each step of a test's
 * cycle, then a second probe run on the same queue once the message comes
 * back. Whatever the step, the round must end with one result per pair,
 * every record's archive in S3, closed with done == total, no process of
 * the killed run left, and no pair tested again whose result was stored.
 *
 * Toxiproxy delays every S3 answer the killed run gets, so its writes (pair
 * started, archive, result, pair state, pair done, round head) land far
 * apart; the test watches S3 and the queue directly, and /proc, and kills
 * the probe the moment the step it wants is visible. Each step has its own
 * lane (queue, nodes on loopback addresses, lock and work directory,
 * schedule), so the six run at once; the recovery runs talk to S3 directly.
 */

const VISIBILITY_SECONDS = 10;
const S3_LATENCY_MS = 400;
const PAIRS = ['n1>n2', 'n2>n1'];

/** What S3 and the queue show once the probe is killed. */
interface Seen {
  /** Per pair "src>dst": its events' states and run ids, oldest first. */
  events: Record<string, Array<{ state: string; runId: string | null }>>;
  /** Pairs whose result is stored. */
  results: string[];
  archives: number;
  /** Messages of the round still in the queue (visible or in flight). */
  messages: number;
  closed: boolean;
}

interface Lane {
  schedule: string;
  round: string;
  queue: WorkQueue;
  killed: ProcessMark;
}

/**
 * Each step: when the killed run is in it, and what S3 and the queue say
 * then (started and finished pair events, results, archives, messages).
 */
const STEPS = {
  receive: {
    reached: async (lane) => (await lane.queue.approximateCounts()).inFlight > 0,
    at: { started: 0, finished: 0, results: 0, archives: 0, messages: 2 },
  },
  'servers started': {
    reached: async (lane) => {
      const procs = await lane.killed.processes();
      return procs.some((p) => runs(p, 'netserver')) && procs.some((p) => runs(p, 'irtt'));
    },
    at: { started: 1, finished: 0, results: 0, archives: 0, messages: 2 },
  },
  'flent running': {
    // flent itself, and the tools it measures with (fping, irtt client) under way.
    reached: async (lane) => {
      const procs = await lane.killed.processes();
      const flent = procs.find((p) => runs(p, 'flent'));
      return flent !== undefined && procs.some((p) => p.ppid === flent.pid);
    },
    at: { started: 1, finished: 0, results: 0, archives: 0, messages: 2 },
  },
  'upload done': {
    reached: async (lane) => (await store.list(`archives/${lane.schedule}/`)).length > 0,
    at: { started: 1, finished: 0, results: 0, archives: 1, messages: 2 },
  },
  'result written': {
    reached: async (lane) => (await store.list(resultPrefix(lane.schedule, lane.round))).length > 0,
    at: { started: 1, finished: 0, results: 1, archives: 1, messages: 2 },
  },
  // The round's last pair: after its done event the run still reads the round and closes it before
  // it deletes the message (after the first pair's, it deletes the message at once).
  'manifest written': {
    reached: async (lane) => (await eventKeys(lane)).filter((key) => key.endsWith('.done.json')).length === 2,
    at: { started: 2, finished: 2, results: 2, archives: 2, messages: 1 },
  },
} satisfies Record<string, { reached: (lane: Lane) => Promise<boolean>; at: Record<string, number> }>;
type Step = keyof typeof STEPS;

interface Outcome extends Lane {
  seen: Seen;
  report: ProbeReport;
  recovery: ProcessMark;
}

let fixture: StackFixture;
let store: ObjectStore;
let toxiproxy: Toxiproxy;
const started: ManagedProcess[] = [];
const outcomes = new Map<Step, Promise<Outcome>>();

function track(proc: ManagedProcess): ManagedProcess {
  started.push(proc);
  return proc;
}

async function eventKeys(lane: Pick<Lane, 'schedule' | 'round'>): Promise<string[]> {
  return (await store.list(roundPairsPrefix(lane.schedule, lane.round))).filter((k) => !k.includes('~'));
}

const eventSchema = z.object({ state: z.string(), runId: z.string().nullable() });

async function look(lane: Lane): Promise<Seen> {
  const events: Seen['events'] = {};
  const prefix = roundPairsPrefix(lane.schedule, lane.round);
  for (const key of (await eventKeys(lane)).sort()) {
    const [src, dst] = key.slice(prefix.length).split('/');
    const event = await store.getJson(key, eventSchema);
    if (event !== undefined) events[`${src}>${dst}`] = [...(events[`${src}>${dst}`] ?? []), event];
  }
  const counts = await lane.queue.approximateCounts();
  const head = await store.getJson(
    roundKey(lane.schedule, lane.round),
    z.object({ closedAt: z.string().nullable() }),
  );
  return {
    events,
    results: (await store.list(resultPrefix(lane.schedule, lane.round))).map((k) =>
      k
        .split('/')
        .slice(-2)
        .join('>')
        .replace(/\.json$/, ''),
    ),
    archives: (await store.list(`archives/${lane.schedule}/`)).length,
    // local-aws-sqs counts a message in flight in ApproximateNumberOfMessages too (real SQS does not).
    messages: counts.visible,
    closed: head?.closedAt != null,
  };
}

/** One lane: plan a round, a probe killed at `step`, a second probe run to the end. */
async function killAndRecover(step: Step, index: number, s3Proxy: string): Promise<Outcome> {
  const dir = join(fixture.dir, `lane-${index}`);
  await mkdir(dir, { recursive: true });
  const nodesFile = join(dir, 'nodes.json');
  await writeFile(
    nodesFile,
    JSON.stringify(
      ['n1', 'n2'].map((name, i) => ({
        name,
        address: `127.0.14.${10 + 2 * index + i}`,
        ready: true,
        labels: {},
      })),
    ),
  );
  const sqs = makeSqsClient(
    loadConfig(['NETMON_SQS_ENDPOINT', 'NETMON_SQS_REGION', ...CREDENTIAL_KEYS], fixture.env),
  );
  // local-aws-sqs counts each heartbeat as a receive: room for several before the dead-letter queue.
  const url = await ensureWorkQueue(sqs, `probe-kill-${index}`, {
    visibilityTimeoutSeconds: VISIBILITY_SECONDS,
    maxReceives: 100,
  });
  const schedule = `kill-${step.replace(' ', '-')}`;
  const env = {
    ...fixture.env,
    NETMON_SCHEDULES: JSON.stringify([{ name: schedule, cron: '* * * * *', test: 'ping', lengthSeconds: 1 }]),
    NETMON_SQS_QUEUE_URL: url,
    NETMON_VISIBILITY_TIMEOUT_SECONDS: String(VISIBILITY_SECONDS),
    NETMON_NODES_FILE: nodesFile,
    NETMON_LOCK_FILE: join(dir, 'test.lock'),
    NETMON_WORK_DIR: join(dir, 'runs'),
    // Ports nobody else on this host uses: the servers run in the host's own network namespace.
    NETMON_NETSERVER_PORT: String(21_000 + Math.floor(Math.random() * 2000)),
    NETMON_IRTT_PORT: String(23_000 + Math.floor(Math.random() * 2000)),
  };
  const planned = await track(startPlan(env)).done;
  expect(planned.exitCode, planned.stderr).toBe(0);
  const [outcome] = JSON.parse(planned.stdout) as PlanOutcome[];
  expect(outcome).toMatchObject({ schedule, queued: 2 });
  const lane: Lane = {
    schedule,
    round: (outcome as { round: string }).round,
    queue: new WorkQueue(sqs, url, VISIBILITY_SECONDS),
    killed: processMark('NETMON_PROBE_KILL_RUN'),
  };

  const first = track(startProbe({ ...env, ...lane.killed.env, NETMON_S3_ENDPOINT: s3Proxy }));
  await waitFor(
    `the probe to reach "${step}"`,
    async () => {
      if (!first.running) throw new Error(`the probe ended before "${step}": ${(await first.done).stderr}`);
      return STEPS[step].reached(lane);
    },
    { timeoutMs: 90_000, intervalMs: 25 },
  );
  process.kill(first.pid as number, 'SIGKILL');
  await first.done;
  const seen = await look(lane);

  // The message comes back after its visibility timeout; this run waits for it (it is in flight).
  const recovery = processMark('NETMON_PROBE_KILL_RUN');
  const second = await track(startProbe({ ...env, ...recovery.env })).done;
  expect(second.exitCode, second.stderr).toBe(0);
  return { ...lane, seen, report: JSON.parse(second.stdout) as ProbeReport, recovery };
}

beforeAll(async () => {
  [fixture, toxiproxy] = await Promise.all([
    startStackFixture({ visibilityTimeoutSeconds: VISIBILITY_SECONDS }),
    startToxiproxy(),
  ]);
  store = storeFrom(fixture.env);
  const s3 = await toxiproxy.proxy('s3', fixture.env.NETMON_S3_ENDPOINT as string);
  await s3.latency(S3_LATENCY_MS);
  for (const [index, step] of (Object.keys(STEPS) as Step[]).entries()) {
    const lane = killAndRecover(step, index, s3.url);
    // Its test reports a failure; until then it is no unhandled rejection.
    lane.catch(() => undefined);
    outcomes.set(step, lane);
  }
}, 300_000);

afterAll(async () => {
  // A lane still running (its test failed) ends when its probe does.
  for (const proc of started) if (proc.running) await proc.stop();
  await Promise.allSettled(outcomes.values());
  for (const proc of started) if (proc.running) await proc.stop();
  await toxiproxy?.stop();
  await fixture?.stop();
}, 60_000);

describe('probe SIGKILLed, then run again after the visibility timeout', () => {
  for (const step of Object.keys(STEPS) as Step[]) {
    it(`after "${step}": one result per pair, archives in S3, round closed, nothing left, a stored result kept`, async () => {
      const lane = await (outcomes.get(step) as Promise<Outcome>);
      const { seen } = lane;
      const all = Object.values(seen.events).flat();
      // The kill hit its step: S3 and the queue say so.
      expect(
        {
          started: all.filter((e) => e.state === 'started').length,
          finished: all.filter((e) => e.state !== 'started').length,
          results: seen.results.length,
          archives: seen.archives,
          messages: seen.messages,
        },
        JSON.stringify(seen),
      ).toEqual(STEPS[step].at);
      expect(seen.closed).toBe(false);

      const records = await roundRecords(store, lane.schedule, lane.round);
      expect(records.map((r) => `${r.src}>${r.dst}`).sort()).toEqual(PAIRS);
      expect(records.every((r) => r.connectivity === 1)).toBe(true);
      const archives = await store.list(`archives/${lane.schedule}/`);
      for (const record of records) expect(archives).toContain(record.archiveKey);

      const manifest = await loadManifest(store, lane.schedule, lane.round);
      expect(manifest?.closedAt).not.toBeNull();
      expect(manifest?.counts).toEqual({ total: 2, done: 2, failed: 0, skipped: 0 });
      const head = await store.getJson(
        roundKey(lane.schedule, lane.round),
        z.object({ counts: z.unknown() }),
      );
      expect(head?.counts).toEqual({ total: 2, done: 2, failed: 0, skipped: 0 });

      // A pair whose result was stored keeps it (the killed run's); any other is tested once more.
      for (const pair of manifest?.pairs ?? []) {
        const name = `${pair.src}>${pair.dst}`;
        const record = records.find((r) => `${r.src}>${r.dst}` === name);
        const killedRun = seen.events[name]?.findLast((e) => e.state === 'started')?.runId;
        const stored = seen.results.includes(name);
        const startedBefore = seen.events[name]?.filter((e) => e.state === 'started').length ?? 0;
        expect({ pair: name, attempts: pair.attempts, kept: record?.runId === killedRun }).toEqual({
          pair: name,
          attempts: startedBefore + (stored ? 0 : 1),
          kept: stored,
        });
        expect(pair.runId).toBe(record?.runId);
      }
      // Each message left was tested, or found done (a duplicate); a stored result was not tested again.
      expect(lane.report.tests).toBe(2 - seen.results.length);
      expect(lane.report.tests + lane.report.duplicates).toBe(seen.messages);

      // setpriv --pdeathsig took the killed run's servers and flent with it; its tools' runs ended.
      expect((await lane.killed.processes()).map(describeProcess)).toEqual([]);
      expect((await lane.recovery.processes()).map(describeProcess)).toEqual([]);
    }, 180_000);
  }
});
