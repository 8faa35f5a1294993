import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Barrier } from '../core/barrier.ts';
import { errorLine, LockError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { withRetry } from '../core/retry.ts';
import { shutdownSignal } from '../core/shutdown.ts';
import type { TestLocks } from '../domain/lock.ts';
import type { ClusterNode, NodeSource } from '../domain/nodes.ts';
import { publishedOneWay } from '../domain/one-way.ts';
import { failureConnectivity } from '../domain/outcome.ts';
import { type PhaseHook, type TestPhase, timed } from '../domain/phases.ts';
import type { TestRecord } from '../domain/record.ts';
import {
  isFinished,
  type RoundManifest,
  type RoundObserver,
  type RoundPair,
  roundComplete,
  type SoloCheck,
} from '../domain/round.ts';
import {
  archiveOf,
  type RunHooks,
  type Runner,
  type RunnerNode,
  type TestOutcome,
} from '../domain/runner.ts';
import { soloRatios } from '../domain/solo.ts';
import { expectedRunSeconds, TEST_OVERHEAD_SECONDS } from '../domain/test-types.ts';
import type { PairMessage, ReceivedMessage, WorkQueue } from '../queue/work-queue.ts';
import { archiveKey, resultKey, soloKey } from '../store/keys.ts';
import { isTransientStoreError, type ObjectStore } from '../store/s3-store.ts';
import { acquireInOrder, lockScopeOf } from './lock-order.ts';
import { PendingMetrics, savePairState, withLastSuccess } from './pending-metrics.ts';
import { recordSchema, type StoredRecord } from './results.ts';
import { loadManifest, refreshPairs, refreshSolo, saveHead, savePairEvent, saveSoloEvent } from './round.ts';
import type { ResultSpool } from './spool.ts';

export interface ProbeDeps {
  store: ObjectStore;
  queue: WorkQueue;
  runner: Runner;
  /** The cluster's test lock and one per node (lockScopeOf says which a message takes). */
  locks: TestLocks;
  nodes: NodeSource;
  /** Pushes a record's figures as metrics. A failure here is logged, never a lost test. */
  publish: (record: TestRecord) => Promise<void>;
  budgetSeconds: number;
  /** Long-poll wait when the queue looks empty. */
  waitSeconds?: number;
  onTest?: (event: ProbeEvent) => void;
  /** Told of each phase of a test's cycle as it ends, for the pair it belongs to (the round bench). */
  onPhase?: (
    phase: TestPhase,
    startedAt: number,
    endedAt: number,
    pair: { src: string; dst: string },
  ) => void;
  /** Told of each finished pair (the TestSchedule status in a cluster). */
  observer?: RoundObserver;
  /** Where results wait while S3 is away (the local runner's host); absent: the message comes back instead. */
  spool?: ResultSpool;
  /** How long storing a result is retried while S3 is away before the spool (or the message's return) takes over. */
  storeRetrySeconds?: number;
  /** Pushes a disjoint round's solo check (netmon_parallel_solo_ratio); a failure is logged. */
  publishSolo?: (schedule: string, test: string, check: SoloCheck) => Promise<void>;
}

export type ProbeEvent =
  | { kind: 'started'; schedule: string; round: string; src: string; dst: string }
  | { kind: 'finished'; record: TestRecord; manifest: RoundManifest }
  | { kind: 'skipped'; schedule: string; round: string; src: string; dst: string; reason: string }
  | { kind: 'duplicate'; schedule: string; round: string; src: string; dst: string };

export interface ProbeReport {
  tests: number;
  failures: number;
  skipped: number;
  duplicates: number;
  stoppedBecause: 'queue-empty' | 'budget-spent';
}

/**
 * probe: takes messages one at a time and runs each pair's test under the
 * test lock, until the queue is empty or the time budget would be overrun.
 * Every test ends as a stored result (success or failure) before its message
 * is deleted; a probe that dies mid-test leaves the message to come back
 * after its visibility timeout, and the round manifest makes sure a pair
 * already done is not recorded twice.
 */
/** S3 away this long is no blip: the result goes to the spool, or the test runs again later. */
const DEFAULT_STORE_RETRY_SECONDS = 30;

/**
 * A probe run's deps: the function's, the run's own pending metrics, and the
 * rounds it has touched (each read whole once per run, then kept current
 * pair by pair: a round's full listing per message would grow with N^2).
 */
type RunDeps = ProbeDeps & { metrics: PendingMetrics; rounds: Map<string, RoundManifest> };

export async function probe(probeDeps: ProbeDeps): Promise<ProbeReport> {
  const deadline = Date.now() + probeDeps.budgetSeconds * 1000;
  const deps: RunDeps = {
    ...probeDeps,
    metrics: new PendingMetrics(probeDeps.store, probeDeps.publish),
    rounds: new Map(),
  };
  // Results whose metrics an earlier run could not push go first, so Prometheus catches up.
  await deliverSpool(deps).catch((err) => log.warn({ err: errorLine(err) }, 'spool not read'));
  await deps.metrics.catchUp().catch((err) => log.warn({ err: errorLine(err) }, 'pending metrics not read'));
  const report: ProbeReport = {
    tests: 0,
    failures: 0,
    skipped: 0,
    duplicates: 0,
    stoppedBecause: 'queue-empty',
  };
  for (;;) {
    const receiving = Date.now();
    const message = await deps.queue.receive(deps.waitSeconds ?? 2);
    if (message !== undefined) deps.onPhase?.('receive', receiving, Date.now(), message.body);
    if (message === undefined) {
      // Messages still in flight belong to a probe that may die: stay for them while the budget lasts.
      if ((await deps.queue.approximateCounts()).inFlight > 0 && Date.now() < deadline) continue;
      break;
    }
    const needed =
      (expectedRunSeconds(message.body.lengthSeconds, message.body.delaySeconds) + TEST_OVERHEAD_SECONDS) *
      1000;
    if (Date.now() + needed > deadline) {
      // Give it back at once for the next probe rather than start a test the budget cannot hold.
      await deps.queue.extendVisibility(message.receiptHandle, 0);
      report.stoppedBecause = 'budget-spent';
      break;
    }
    const results = await withHeartbeat(deps.queue, message, () => handle(deps, message, deadline));
    for (const result of results) tally(report, result);
  }
  await deliverSpool(deps).catch((err) => log.warn({ err: errorLine(err) }, 'spool not read'));
  await settleRounds(deps);
  log.info(report, 'probe done');
  return report;
}

function tally(report: ProbeReport, result: HandleResult): void {
  if (result === 'tested' || result === 'failed') report.tests++;
  if (result === 'failed') report.failures++;
  if (result === 'skipped') report.skipped++;
  if (result === 'duplicate') report.duplicates++;
}

/** Keeps the message invisible while its test waits for the lock and runs. */
async function withHeartbeat<T>(
  queue: WorkQueue,
  message: ReceivedMessage,
  body: () => Promise<T>,
): Promise<T> {
  const every = Math.max(1000, (queue.visibilityTimeoutSeconds * 1000) / 3);
  const timer = setInterval(() => {
    queue
      .extendVisibility(message.receiptHandle)
      .catch((err) => log.warn({ err: errorLine(err) }, 'visibility not extended'));
  }, every);
  try {
    return await body();
  } finally {
    clearInterval(timer);
  }
}

type HandleResult = 'tested' | 'failed' | 'skipped' | 'duplicate' | 'dropped';

/**
 * One message under the test lock: a pair (serial rounds), or a slot of
 * node-disjoint pairs (disjoint rounds) whose tests run at once, each
 * client starting when every pair's servers listen. Each pair ends as a
 * result (or skipped, or a duplicate) before the message is deleted.
 */
async function handle(deps: RunDeps, message: ReceivedMessage, deadline: number): Promise<HandleResult[]> {
  const { body } = message;
  const { onPhase } = phasesOf(deps, body);
  const scope = lockScopeOf(body);
  const release = await timed(onPhase, 'lock', () =>
    acquireInOrder(deps.locks, scope, Math.max(1000, deadline - Date.now())),
  );
  try {
    const manifest = await timed(onPhase, 'manifest', () => roundOf(deps, body.schedule, body.round));
    if (manifest !== undefined && body.solo === true)
      return [await handleSolo(deps, message, manifest, release.signal)];
    const wanted = body.slot?.pairs ?? [{ src: body.src, dst: body.dst }];
    const pairs = wanted.map((w) => manifest?.pairs.find((p) => p.src === w.src && p.dst === w.dst));
    // Another probe may have tested them since this run read the round.
    if (manifest !== undefined && pairs.every((pair) => pair !== undefined))
      await timed(onPhase, 'manifest', () => refreshPairs(deps.store, manifest, pairs as RoundPair[]));
    if (manifest === undefined || pairs.some((pair) => pair === undefined)) {
      log.error(body, 'a message for a pair that is not in its round manifest: dropped');
      await deps.queue.delete(message.receiptHandle);
      return ['dropped'];
    }
    const results: HandleResult[] = [];
    const toMeasure: RoundPair[] = [];
    // Holding these nodes' locks, nobody's test runs on them: whatever test leftovers are there belong
    // to crashed runs. Only there: a slot of another schedule may be testing on other nodes right now.
    let nodes: readonly ClusterNode[] | undefined;
    for (const pair of pairs as RoundPair[]) {
      const pairBody = { ...body, src: pair.src, dst: pair.dst };
      await finishStored(deps, manifest, pair);
      if (isFinished(pair)) {
        // Delivered again after another probe finished it: the round already has its result.
        deps.onTest?.({ kind: 'duplicate', ...eventOf(pairBody) });
        results.push('duplicate');
        continue;
      }
      if (nodes === undefined) {
        nodes = await timed(onPhase, 'nodes', async () => {
          await deps.runner.cleanupStale?.(0, scope.nodes);
          return deps.nodes.list();
        });
      }
      const missing = unavailable(nodes, pair.src, pair.dst);
      if (missing !== undefined) {
        await finishPair(deps, manifest, pair, { state: 'skipped', reason: missing });
        deps.onTest?.({ kind: 'skipped', ...eventOf(pairBody), reason: missing });
        results.push('skipped');
        continue;
      }
      toMeasure.push(pair);
    }
    const barrier = new Barrier(toMeasure.length);
    const records = await Promise.all(
      toMeasure.map(async (pair) => {
        const party = barrier.party();
        try {
          return await measure(
            deps,
            manifest,
            pair,
            nodes ?? [],
            { ...body, src: pair.src, dst: pair.dst },
            {
              ...phasesOf(deps, pair),
              signal: release.signal,
              // A lone test needs no barrier; a slot's clients start together.
              ...(toMeasure.length > 1 ? { serversReady: party.arrive } : {}),
            },
          );
        } finally {
          party.leave();
        }
      }),
    );
    await timed(onPhase, 'delete', () => deps.queue.delete(message.receiptHandle));
    for (const record of records) {
      if (record === undefined) {
        results.push('skipped');
        continue;
      }
      deps.onTest?.({ kind: 'finished', record, manifest });
      results.push(record.connectivity === 1 ? 'tested' : 'failed');
    }
    return results;
  } finally {
    await timed(onPhase, 'release', release);
  }
}

/**
 * A disjoint round's solo check, after its slots: the pair measured again
 * alone (under the lock like a serial test), its headline figures beside
 * the ones its slot gave. Stored as solo/<schedule>/<round>.json and pushed
 * as netmon_parallel_solo_ratio; the pair's own result and metrics stay the
 * slot's.
 */
async function handleSolo(
  deps: RunDeps,
  message: ReceivedMessage,
  manifest: RoundManifest,
  signal: AbortSignal,
): Promise<HandleResult> {
  const { body } = message;
  await refreshSolo(deps.store, manifest);
  const solo = manifest.solo;
  if (solo === undefined || solo.src !== body.src || solo.dst !== body.dst) {
    log.error(body, 'a solo check that is not in its round manifest: dropped');
    await deps.queue.delete(message.receiptHandle);
    return 'dropped';
  }
  if (isFinished(solo)) {
    deps.onTest?.({ kind: 'duplicate', ...eventOf(body) });
    await deps.queue.delete(message.receiptHandle);
    return 'duplicate';
  }
  const pair = manifest.pairs.find((p) => p.src === solo.src && p.dst === solo.dst);
  const parallel: StoredRecord | undefined =
    pair?.state === 'done'
      ? await deps.store.getJson(resultKey(body.schedule, body.round, body.src, body.dst), recordSchema)
      : undefined;
  await deps.runner.cleanupStale?.(0, [solo.src, solo.dst]);
  const nodes = await deps.nodes.list();
  const notComparable =
    unavailable(nodes, solo.src, solo.dst) ??
    (parallel?.summary == null ? `the pair has no measured result in its slot (${pair?.state})` : undefined);
  let result: HandleResult = 'skipped';
  if (notComparable !== undefined || parallel === undefined) {
    solo.state = 'skipped';
    solo.reason = notComparable ?? null;
    deps.onTest?.({ kind: 'skipped', ...eventOf(body), reason: `solo check: ${notComparable}` });
  } else {
    const started = new Date();
    const runId = randomUUID();
    Object.assign(solo, {
      startedAt: started.toISOString(),
      soloRunId: runId,
      parallelRunId: parallel.runId ?? null,
    });
    await saveSoloEvent(deps.store, manifest);
    const ran = await runTest(deps, nodes, body, { signal }, runId, started).catch((err: unknown) => {
      if (err instanceof LockLost) return err;
      throw err;
    });
    if (ran instanceof LockLost) {
      solo.state = 'skipped';
      solo.reason = `lock-lost: ${ran.message}`;
      deps.onTest?.({ kind: 'skipped', ...eventOf(body), reason: `solo check: ${solo.reason}` });
      return finishSolo(deps, message, manifest, 'skipped');
    }
    const { record, archivePath } = ran;
    record.concurrency = 'serial';
    await uploadArchive(deps.store, record, archivePath);
    if (archivePath !== undefined) await rm(dirname(archivePath), { recursive: true, force: true });
    solo.ratios = soloRatios(parallel.summary ?? null, record.summary);
    solo.state = record.connectivity === 1 ? 'done' : 'failed';
    solo.reason = record.reason;
    await deps.store.putJson(soloKey(body.schedule, body.round), { ...solo, parallel, solo: record });
    await deps
      .publishSolo?.(body.schedule, body.test, solo)
      .catch((err) => log.error({ err: errorLine(err), ...eventOf(body) }, 'solo ratio not pushed'));
    log.info({ ...eventOf(body), ratios: solo.ratios }, 'solo check');
    result = record.connectivity === 1 ? 'tested' : 'failed';
  }
  return finishSolo(deps, message, manifest, result);
}

async function finishSolo(
  deps: RunDeps,
  message: ReceivedMessage,
  manifest: RoundManifest,
  result: HandleResult,
): Promise<HandleResult> {
  const solo = manifest.solo as NonNullable<RoundManifest['solo']>;
  solo.finishedAt = new Date().toISOString();
  await saveSoloEvent(deps.store, manifest);
  await closeIfComplete(deps, manifest);
  await deps.observer?.progressed(manifest);
  await deps.queue.delete(message.receiptHandle);
  return result;
}

/** The phase hook for one pair's events; none when nobody listens. */
function phasesOf(deps: ProbeDeps, pair: { src: string; dst: string }): { onPhase?: PhaseHook } {
  const hook = deps.onPhase;
  if (hook === undefined) return {};
  const of = { src: pair.src, dst: pair.dst };
  return { onPhase: (phase, startedAt, endedAt) => hook(phase, startedAt, endedAt, of) };
}

function eventOf(body: PairMessage): { schedule: string; round: string; src: string; dst: string } {
  return { schedule: body.schedule, round: body.round, src: body.src, dst: body.dst };
}

function unavailable(nodes: readonly ClusterNode[], src: string, dst: string): string | undefined {
  for (const name of [src, dst]) {
    const node = nodes.find((n) => n.name === name);
    if (node === undefined) return `node ${name} is gone`;
    if (!node.ready) return `node ${name} is not Ready`;
  }
  return undefined;
}

async function measure(
  deps: RunDeps,
  manifest: RoundManifest,
  pair: RoundPair,
  nodes: readonly ClusterNode[],
  body: PairMessage,
  hooks: RunHooks,
): Promise<TestRecord | undefined> {
  const runId = randomUUID();
  const started = new Date();
  pair.startedAt = started.toISOString();
  pair.attempts += 1;
  pair.runId = runId;
  const { onPhase } = hooks;
  await timed(onPhase, 'manifest', () => savePairEvent(deps.store, manifest, pair));
  deps.onTest?.({
    kind: 'started',
    schedule: body.schedule,
    round: body.round,
    src: body.src,
    dst: body.dst,
  });
  const ran = await runTest(deps, nodes, body, hooks, runId, started).catch((err: unknown) => {
    if (err instanceof LockLost) return err;
    throw err;
  });
  if (ran instanceof LockLost) {
    // Not a finding about the network: no record, no metrics; the round says why the pair has none.
    const reason = `lock-lost: ${ran.message}`;
    await finishPair(deps, manifest, pair, { state: 'skipped', reason });
    deps.onTest?.({ kind: 'skipped', ...eventOf(body), reason });
    return undefined;
  }
  const { record, archivePath } = ran;
  record.concurrency = manifest.concurrency?.mode ?? 'serial';
  try {
    await withRetry(
      'store the result',
      () => storeResult(deps, manifest, pair, record, archivePath, onPhase),
      isTransientStoreError,
      { budgetMs: (deps.storeRetrySeconds ?? DEFAULT_STORE_RETRY_SECONDS) * 1000, signal: shutdownSignal },
    );
  } catch (err) {
    // S3 still away: the result waits on this host (local runner) and goes out with the next run.
    if (!isTransientStoreError(err) || deps.spool === undefined) throw err;
    if (!(await deps.spool.keep(record, archivePath))) throw err;
    if (archivePath !== undefined) await rm(dirname(archivePath), { recursive: true, force: true });
    log.warn(
      { ...eventOf(body), err: errorLine(err), spool: deps.spool.dir },
      'S3 did not take the result: kept in the spool until it does',
    );
  }
  return record;
}

/** The test's archive, when it is a file on this host, to the key its record names. */
async function uploadArchive(
  store: ObjectStore,
  record: TestRecord,
  archivePath: string | undefined,
): Promise<void> {
  if (archivePath !== undefined && record.archiveKey !== null)
    await store.putFile(record.archiveKey, archivePath, 'application/gzip');
}

/**
 * A test's result into the store: its archive (when it is a file here),
 * the record, the pair's state, its metrics, then the pair's result event.
 * Run again from the spool, each step lands on the same key.
 */
async function storeResult(
  deps: RunDeps,
  manifest: RoundManifest,
  pair: RoundPair,
  record: TestRecord,
  archivePath: string | undefined,
  onPhase?: PhaseHook,
): Promise<void> {
  const uploading = Date.now();
  await uploadArchive(deps.store, record, archivePath);
  await withLastSuccess(deps.store, record);
  const stored = resultKey(record.schedule, record.round, record.src, record.dst);
  await deps.store.putJson(stored, record);
  await savePairState(deps.store, record, stored);
  const pushing = Date.now();
  onPhase?.('upload', uploading, pushing);
  await deps.metrics.push(record, stored);
  const finishing = Date.now();
  onPhase?.('metrics', pushing, finishing);
  await finishPair(deps, manifest, pair, {
    state: record.connectivity === 1 ? 'done' : 'failed',
    reason: record.reason,
    connectivity: record.connectivity,
  });
  onPhase?.('manifest', finishing, Date.now());
  if (archivePath !== undefined) await rm(dirname(archivePath), { recursive: true, force: true });
}

/**
 * A pair an earlier run started and stored the result of, then died before
 * its result event (storeResult's later steps): those steps now, from the
 * stored record, so the pair is finished with that run's result instead of
 * being tested again (its record replaced, its archive orphaned).
 */
async function finishStored(deps: RunDeps, manifest: RoundManifest, pair: RoundPair): Promise<void> {
  // Never started (no earlier run), or finished: nothing to look for.
  if (pair.attempts === 0 || isFinished(pair)) return;
  const key = resultKey(manifest.schedule, manifest.round, pair.src, pair.dst);
  const stored = await deps.store.getJson(key, recordSchema);
  if (stored === undefined) return;
  pair.runId = typeof stored.runId === 'string' ? stored.runId : null;
  log.warn(
    { schedule: manifest.schedule, round: manifest.round, src: pair.src, dst: pair.dst, runId: pair.runId },
    'a result stored by a run that died before its pair event: finishing it, not testing again',
  );
  await storeResult(deps, manifest, pair, stored as unknown as TestRecord, undefined);
}

/** Results an earlier run kept because S3 was away, into the store now (oldest first). */
async function deliverSpool(deps: RunDeps): Promise<void> {
  if (deps.spool === undefined) return;
  const { delivered, left } = await deps.spool.deliver(async ({ record, archivePath }) => {
    const manifest = await roundOf(deps, record.schedule, record.round);
    const pair = manifest?.pairs.find((p) => p.src === record.src && p.dst === record.dst);
    if (manifest !== undefined && pair !== undefined) await refreshPairs(deps.store, manifest, [pair]);
    if (manifest === undefined || pair === undefined || isFinished(pair)) {
      // Its round has another result for the pair by now (or is gone): the archive is still the raw record.
      await uploadArchive(deps.store, record, archivePath);
      return;
    }
    await storeResult(deps, manifest, pair, record, archivePath);
  });
  if (delivered > 0 || left > 0) log.info({ delivered, left }, 'spooled results');
}

/** One test on the runner, its archive uploaded: the record (stored by the caller). */
async function runTest(
  deps: ProbeDeps,
  nodes: readonly ClusterNode[],
  body: PairMessage,
  hooks: RunHooks,
  runId: string,
  started: Date,
): Promise<{ record: TestRecord; archivePath?: string }> {
  const { onPhase } = hooks;
  const running = Date.now();
  const { signal } = hooks;
  const outcome = await deps.runner
    .run(
      {
        src: asRunnerNode(nodes, body.src),
        dst: asRunnerNode(nodes, body.dst),
        test: body.test,
        lengthSeconds: body.lengthSeconds,
        schedule: body.schedule,
        round: body.round,
        ...(body.delaySeconds === undefined ? {} : { delaySeconds: body.delaySeconds }),
        ...(body.hostNetwork === undefined ? {} : { hostNetwork: body.hostNetwork }),
        ...(body.timeoutSeconds === undefined ? {} : { timeoutSeconds: body.timeoutSeconds }),
      },
      hooks,
    )
    .catch((err: unknown) => {
      throw signal?.aborted ? new LockLost(errorLine(signal.reason), { cause: err }) : err;
    });
  if (signal?.aborted) {
    // Finished, but not alone on its nodes to the end: its figures cannot be trusted.
    const archive = archiveOf(outcome);
    if (archive !== undefined && 'path' in archive)
      await rm(dirname(archive.path), { recursive: true, force: true });
    throw new LockLost(errorLine(signal.reason));
  }
  const ended = new Date();
  onPhase?.('run', running, ended.getTime());
  // flent's own process time: what the overhead is measured against.
  if (outcome.ok) onPhase?.('flent', ended.getTime() - outcome.durationSeconds * 1000, ended.getTime());
  // An archive already in S3 (the agent's), or a file here that storing the result uploads.
  const archive = archiveOf(outcome);
  if (archive !== undefined && 'path' in archive) {
    const key = archiveKey(body.schedule, body.src, body.dst, body.test, started);
    return { record: toRecord(body, runId, started, ended, outcome, key), archivePath: archive.path };
  }
  const key = archive !== undefined && 'key' in archive ? archive.key : null;
  return { record: toRecord(body, runId, started, ended, outcome, key) };
}

/** The test's lock was lost while it ran (another test may have run beside it): it has no result. */
class LockLost extends LockError {
  override name = 'LockLost';
}

function asRunnerNode(nodes: readonly ClusterNode[], name: string): RunnerNode {
  const node = nodes.find((n) => n.name === name) as ClusterNode;
  return node.netns === undefined
    ? { name, address: node.address }
    : { name, address: node.address, netns: node.netns };
}

function toRecord(
  body: ReceivedMessage['body'],
  runId: string,
  started: Date,
  ended: Date,
  outcome: TestOutcome,
  archive: string | null,
): TestRecord {
  const common = {
    version: 1 as const,
    schedule: body.schedule,
    round: body.round,
    src: body.src,
    dst: body.dst,
    test: body.test,
    runId,
    startTime: started.toISOString(),
    endTime: ended.toISOString(),
    durationSeconds: (ended.getTime() - started.getTime()) / 1000,
    archiveKey: archive,
  };
  if (outcome.ok) {
    const clocks = outcome.clocks ?? null;
    return {
      ...common,
      connectivity: 1,
      reason: null,
      message: null,
      exitCode: 0,
      stderrTail: null,
      summary: outcome.summary,
      clocks,
      oneWay: publishedOneWay(outcome.summary, clocks),
    };
  }
  const f = outcome.failure;
  return {
    ...common,
    // Only a finding about the network is connectivity 0; a test that broke measured nothing (null).
    connectivity: failureConnectivity(f.reason),
    reason: f.reason,
    message: f.message,
    exitCode: f.exitCode,
    stderrTail: f.stderrTail,
    summary: null,
    clocks: outcome.clocks ?? null,
    oneWay: null,
  };
}

async function finishPair(
  deps: RunDeps,
  manifest: RoundManifest,
  pair: RoundPair,
  result: { state: RoundPair['state']; reason: string | null; connectivity?: 0 | 1 | null },
): Promise<void> {
  pair.state = result.state;
  pair.reason = result.reason;
  pair.connectivity = result.connectivity ?? null;
  pair.finishedAt = new Date().toISOString();
  await savePairEvent(deps.store, manifest, pair);
  await closeIfComplete(deps, manifest);
  await deps.observer?.progressed(manifest);
}

/** The round as this run knows it: read whole the first time, then kept current by its own tests. */
async function roundOf(deps: RunDeps, schedule: string, round: string): Promise<RoundManifest | undefined> {
  const id = `${schedule}\u0000${round}`;
  const known = deps.rounds.get(id);
  if (known !== undefined) return known;
  const manifest = await loadManifest(deps.store, schedule, round, { detail: false });
  if (manifest !== undefined) deps.rounds.set(id, manifest);
  return manifest;
}

/**
 * Closes the round when every pair (and the solo check) has its result, as
 * the store says: other probes' results are in it, not in this run's view.
 */
async function closeIfComplete(deps: RunDeps, view: RoundManifest): Promise<void> {
  if (view.closedAt !== null || !roundComplete(view)) return;
  await refresh(deps, view);
}

/** The view as the store now has it; closes the round if it is complete and still open. */
async function refresh(deps: RunDeps, view: RoundManifest): Promise<void> {
  const fresh = await loadManifest(deps.store, view.schedule, view.round, { detail: false });
  if (fresh === undefined) return;
  if (fresh.closedAt === null && roundComplete(fresh)) {
    fresh.closedAt = new Date().toISOString();
    await saveHead(deps.store, fresh);
  }
  // Keep the view's own pair objects: a slot's other tests are still writing to them.
  for (const pair of view.pairs) {
    const now = fresh.pairs.find((p) => p.src === pair.src && p.dst === pair.dst);
    if (now !== undefined && !isFinished(pair))
      Object.assign(pair, { ...now, runId: pair.runId ?? now.runId });
  }
  Object.assign(view, { closedAt: fresh.closedAt, counts: fresh.counts, version: fresh.version });
  if (fresh.solo !== undefined && view.solo !== undefined && !isFinished(view.solo)) view.solo = fresh.solo;
}

/** At the run's end: each round it touched as the store says (others' results too), closed if complete. */
async function settleRounds(deps: RunDeps): Promise<void> {
  for (const view of deps.rounds.values()) {
    if (view.closedAt !== null) continue;
    try {
      await refresh(deps, view);
      await deps.observer?.progressed(view);
    } catch (err) {
      log.warn({ schedule: view.schedule, round: view.round, err: errorLine(err) }, 'round not settled');
    }
  }
}
