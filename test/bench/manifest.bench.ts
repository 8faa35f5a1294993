/**
 * `npm run bench -- manifest`: what a round writes to S3 to keep its own
 * state, at 20 and 100 nodes (issue 14's goal: it grows with N^2, the number
 * of pairs, not N^4). plan and probe run for real against s3rver and local
 * SQS; only the test itself is left out: the runner answers at once (a
 * failure, `unreachable`, so no archive and no metrics), because the figure
 * is the bookkeeping around tests, not the tests. Every PUT is counted by
 * its top-level prefix; the round's state is rounds/ (heads), round-pairs/
 * (pair list and pair events) and state/latest-round/. Beside it, what the
 * version 1 manifest (one object holding every pair, rewritten when a pair
 * started and when it finished) wrote for the same round, from its size.
 */
import type { RoundPair } from '../../layers/domain/round.ts';
import type { Runner, TestOutcome, TestRequest } from '../../layers/domain/runner.ts';
import type { Schedule } from '../../layers/domain/schedule.ts';
import { plan } from '../../layers/pipeline/plan.ts';
import { probe } from '../../layers/pipeline/probe.ts';
import { latestManifest } from '../../layers/pipeline/round.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { planDepsFrom, probeDepsFrom } from '../../layers/wiring/context.ts';
import { startStackFixture } from '../helpers/local-stack.ts';
import { line } from './report.ts';

const SIZES = [20, 100] as const;
/** Prefixes that hold a round's own state (not its results or archives). */
const ROUND_STATE = ['rounds/', 'round-pairs/', 'state/latest-round/'];

/** Answers at once: the pair is unreachable. */
const instantRunner: Runner = {
  run: async (request: TestRequest): Promise<TestOutcome> => ({
    ok: false,
    src: request.src.name,
    dst: request.dst.name,
    failure: {
      connectivity: 0,
      reason: 'unreachable',
      message: 'bench: no test is run',
      test: request.test,
      host: request.src.name,
      exitCode: 1,
      signal: null,
      stderrTail: '',
      startTime: new Date().toISOString(),
      durationSeconds: 0,
    },
  }),
};

interface Tally {
  puts: number;
  bytes: Map<string, number>;
  gets: number;
  lists: number;
  listedKeys: number;
}

/** Counts what goes through the store's own methods (the ones every writer and reader uses). */
function counting(store: ObjectStore, tally: Tally): void {
  const putText = store.putText.bind(store);
  store.putText = async (key, body, contentType, cacheControl) => {
    tally.puts++;
    const prefix = ROUND_STATE.find((p) => key.startsWith(p)) ?? `${key.split('/')[0]}/`;
    tally.bytes.set(prefix, (tally.bytes.get(prefix) ?? 0) + Buffer.byteLength(body));
    return putText(key, body, contentType, cacheControl);
  };
  const getBytes = store.getBytes.bind(store);
  store.getBytes = async (key) => {
    tally.gets++;
    return getBytes(key);
  };
  const list = store.list.bind(store);
  store.list = async (prefix) => {
    tally.lists++;
    const keys = await list(prefix);
    tally.listedKeys += keys.length;
    return keys;
  };
}

/** The version 1 manifest of a finished round of these pairs: what it rewrote at each pair's start and end. */
function version1Bytes(pairs: readonly RoundPair[], head: object): number {
  const finished = pairs.map((p) => ({
    ...p,
    state: 'failed',
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    attempts: 1,
    runId: '00000000-0000-4000-8000-000000000000',
    connectivity: 0,
    reason: 'unreachable',
  }));
  const size = Buffer.byteLength(`${JSON.stringify({ ...head, pairs: finished }, null, 2)}\n`);
  // Opened once, then rewritten when each pair started and when it finished (about the final size each time).
  return size * (1 + 2 * pairs.length);
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e6 ? 3 : 1)} MB`;
}

export default async function manifest(): Promise<void> {
  const fixture = await startStackFixture({ visibilityTimeoutSeconds: 60 });
  try {
    const results: Array<{ nodes: number; pairs: number; bytes: number; v1: number }> = [];
    for (const count of SIZES) {
      const names = Array.from({ length: count }, (_, i) => `node-${String(i + 1).padStart(3, '0')}`);
      await fixture.writeNodes(
        names.map((name, i) => ({
          name,
          address: `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`,
          ready: true,
          labels: {},
        })),
      );
      const schedule: Schedule = {
        name: `bytes-${count}`,
        cron: '* * * * *',
        test: 'ping',
        lengthSeconds: 2,
        // Slots keep the queue short (2(N-1) messages); the state per pair is the same as serial.
        concurrency: { mode: 'disjoint', maxParallel: count / 2 },
      };
      const tally: Tally = { puts: 0, bytes: new Map(), gets: 0, lists: 0, listedKeys: 0 };
      const planDeps = await planDepsFrom(fixture.env);
      counting(planDeps.store, tally);
      const started = Date.now();
      await plan(planDeps, [schedule]);
      const probeDeps = await probeDepsFrom(fixture.env);
      counting(probeDeps.store, tally);
      const report = await probe({
        ...probeDeps,
        runner: instantRunner,
        publish: async () => {},
        waitSeconds: 1,
        budgetSeconds: 3600,
      });
      const seconds = (Date.now() - started) / 1000;
      const round = await latestManifest(probeDeps.store, schedule.name, { detail: false });
      if (round === undefined || round.closedAt === null || report.tests !== count * (count - 1))
        throw new Error(
          `bench round of ${count} nodes did not complete: ${JSON.stringify(report)}, closed ${round?.closedAt}`,
        );
      const stateBytes = ROUND_STATE.reduce((sum, p) => sum + (tally.bytes.get(p) ?? 0), 0);
      const { pairs: roundPairs, counts: _counts, ...head } = round;
      const v1 = version1Bytes(roundPairs, head);
      results.push({ nodes: count, pairs: roundPairs.length, bytes: stateBytes, v1 });
      line(
        `  ${count} nodes (${roundPairs.length} pairs): round state written`,
        `${mb(stateBytes)} (${(stateBytes / roundPairs.length).toFixed(0)} B per pair); version 1 manifest: ${mb(v1)}`,
      );
      line(
        `  ${count} nodes: everything else written`,
        [...tally.bytes.entries()]
          .filter(([p]) => !ROUND_STATE.includes(p))
          .map(([p, b]) => `${p} ${mb(b)}`)
          .join(', '),
      );
      line(
        `  ${count} nodes: requests`,
        `${tally.puts} PUT, ${tally.gets} GET, ${tally.lists} LIST (${tally.listedKeys} keys listed), ${seconds.toFixed(1)} s`,
      );
    }
    const [small, large] = results as [(typeof results)[0], (typeof results)[0]];
    const pairRatio = large.pairs / small.pairs;
    const growth = large.bytes / small.bytes;
    line(
      `  round state ${large.nodes} / ${small.nodes} nodes`,
      `x${growth.toFixed(1)} for x${pairRatio.toFixed(1)} pairs (N^2 would be x${pairRatio.toFixed(1)}, N^4 x${(pairRatio ** 2).toFixed(0)}): ${growth <= pairRatio * 1.5 ? 'met' : 'MISSED'}`,
    );
    line(
      `  version 1 manifest ${large.nodes} / ${small.nodes} nodes`,
      `x${(large.v1 / small.v1).toFixed(0)}; at ${large.nodes} nodes ${(large.v1 / large.bytes).toFixed(0)} times what is written now`,
    );
  } finally {
    await fixture.stop();
  }
}
