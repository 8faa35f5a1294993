import { z } from 'zod';
import { concurrencySchema } from '../core/schedules.ts';
import {
  countPairs,
  isFinished,
  PAIR_STATES,
  type PairState,
  queuedPair,
  type RoundManifest,
  type RoundPair,
  SOLO_FIGURES,
  type SoloCheck,
} from '../domain/round.ts';
import { TEST_NAMES } from '../domain/test-types.ts';
import {
  compactTime,
  decodeSegment,
  encodeSegment,
  latestRoundKey,
  parseCompactTime,
  roundKey,
  roundPairsPrefix,
  roundPrefix,
} from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';

/**
 * Rounds in S3 (the shape is layers/domain/round.ts). A round is the
 * record plan decides from what to enqueue, and probe whether a redelivered
 * message was already done (the queue alone can do neither: local-aws-sqs
 * forgets deduplication ids). It is stored so that what a round writes
 * grows with its pairs, not with their square:
 *
 *   rounds/<schedule>/<round>.json                 the head: the test, the nodes, open/closed,
 *                                                  deadline, when its pairs were queued (O(nodes));
 *                                                  written by plan, and once more by whoever closes it
 *   round-pairs/<schedule>/<round>/~plan.json      the pairs in sending order (and slots), written once
 *   round-pairs/<schedule>/<round>/<src>/<dst>/<time>.<state>.json
 *                                                  one small object per pair event: started, done,
 *                                                  failed, skipped; written by probe (and by plan
 *                                                  for the pairs a deadline skips), never rewritten
 *   round-pairs/<schedule>/<round>/~solo/<time>.<state>.json   the solo check's events
 *
 * Nobody rewrites another writer's object, so plan can never turn a pair a
 * probe just finished back to queued. A pair's state is in its key: one
 * listing of the round tells every pair's state and times; reason,
 * connectivity and run id need a read of the pair's final event (`detail`).
 * Rounds stored before this layout (version 1: one manifest holding every
 * pair, rewritten per pair) are still read, and moved to this one the first
 * time their head is written.
 */

const countsSchema = z.object({
  total: z.number(),
  done: z.number(),
  failed: z.number(),
  skipped: z.number(),
});

const v1PairSchema = z.object({
  src: z.string(),
  dst: z.string(),
  state: z.enum(PAIR_STATES),
  queuedAt: z.string(),
  startedAt: z.string().nullable().default(null),
  finishedAt: z.string().nullable().default(null),
  attempts: z.number().int().default(0),
  runId: z.string().nullable().default(null),
  connectivity: z
    .union([z.literal(0), z.literal(1)])
    .nullable()
    .default(null),
  reason: z.string().nullable().default(null),
  slot: z.number().int().min(0).optional(),
});

const soloSchema = z.object({
  src: z.string(),
  dst: z.string(),
  state: z.enum(PAIR_STATES),
  queuedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  parallelRunId: z.string().nullable(),
  soloRunId: z.string().nullable(),
  reason: z.string().nullable(),
  ratios: z.array(
    z.object({ figure: z.enum(SOLO_FIGURES), parallel: z.number(), solo: z.number(), ratio: z.number() }),
  ),
});

/** What every stored round says about itself, whatever its version. */
const roundFields = {
  schedule: z.string(),
  round: z.string(),
  test: z.enum(TEST_NAMES),
  lengthSeconds: z.number(),
  delaySeconds: z.number().nullable().default(null),
  /** Kubernetes runner settings of the schedule when the round opened (null: the runner's default). */
  hostNetwork: z.boolean().nullable().default(null),
  timeoutSeconds: z.number().nullable().default(null),
  nodeSelector: z.record(z.string(), z.string()).default({}),
  cron: z.string(),
  /** The cron tick this round belongs to. */
  scheduledAt: z.string(),
  openedAt: z.string(),
  closedAt: z.string().nullable(),
  nodes: z.array(z.string()),
  concurrency: concurrencySchema.optional(),
};

/** Version 1: the whole round in one object (read only). */
const v1Schema = z.object({
  version: z.literal(1),
  ...roundFields,
  pairs: z.array(v1PairSchema),
  counts: countsSchema,
  solo: soloSchema.optional(),
});

/** Version 2: the head. */
const headSchema = z.object({
  version: z.literal(2),
  ...roundFields,
  deadlineAt: z.string().nullable(),
  /** When the round's unfinished pairs (and its solo check) were last sent; the epoch: never sent. */
  queuedAt: z.string(),
  total: z.number().int().min(0),
  /** As the round closed (null while open: the events say). */
  counts: countsSchema.nullable(),
  solo: z.object({ src: z.string(), dst: z.string() }).optional(),
});
type Head = z.infer<typeof headSchema>;

const storedSchema = z.discriminatedUnion('version', [v1Schema, headSchema]);

const planSchema = z.object({
  pairs: z.array(
    z.union([z.tuple([z.string(), z.string()]), z.tuple([z.string(), z.string(), z.number().int().min(0)])]),
  ),
});

const EVENT_STATES = ['started', 'done', 'failed', 'skipped'] as const;
type EventState = (typeof EVENT_STATES)[number];

const pairEventSchema = z.object({
  state: z.enum(EVENT_STATES),
  at: z.string(),
  runId: z.string().nullable(),
  connectivity: z.union([z.literal(0), z.literal(1)]).nullable(),
  reason: z.string().nullable(),
});
type PairEvent = z.infer<typeof pairEventSchema>;

const PLAN_FILE = '~plan.json';
const SOLO_FOLDER = '~solo';

/** One listed event: whose, which state, when, and its key (read for the detail). */
interface EventKey {
  key: string;
  /** `src/dst` (encoded), or SOLO_FOLDER. */
  owner: string;
  state: EventState;
  at: string;
}

function eventKey(schedule: string, round: string, owner: string, state: EventState, at: string): string {
  return `${roundPairsPrefix(schedule, round)}${owner}/${compactTime(new Date(at))}.${state}.json`;
}

function pairOwner(pair: { src: string; dst: string }): string {
  return `${encodeSegment(pair.src)}/${encodeSegment(pair.dst)}`;
}

function parseEventKey(prefix: string, key: string): EventKey | undefined {
  const parts = key.slice(prefix.length).split('/');
  const file = parts.pop() ?? '';
  const match = /^(.+)\.([a-z]+)\.json$/.exec(file);
  const at = match === null ? undefined : parseCompactTime(match[1] ?? '');
  const state = match?.[2] as EventState | undefined;
  if (at === undefined || state === undefined || !EVENT_STATES.includes(state)) return undefined;
  const owner = parts.join('/');
  if (owner !== SOLO_FOLDER && parts.length !== 2) return undefined;
  return { key, owner, state, at: at.toISOString() };
}

/** Every event of a round by owner, oldest first. */
async function listEvents(
  store: ObjectStore,
  schedule: string,
  round: string,
  owner = '',
): Promise<EventKey[][]> {
  const prefix = roundPairsPrefix(schedule, round);
  const byOwner = new Map<string, EventKey[]>();
  for (const key of await store.list(`${prefix}${owner}`)) {
    const event = parseEventKey(prefix, key);
    if (event === undefined) continue;
    const events = byOwner.get(event.owner) ?? [];
    events.push(event);
    byOwner.set(event.owner, events);
  }
  return [...byOwner.values()].map((events) => events.sort((a, b) => a.at.localeCompare(b.at)));
}

/** A measurement beats a skip (a deadline may skip a pair whose test then ends); else the newest. */
function finalOf(events: readonly EventKey[]): EventKey | undefined {
  const finals = events.filter((e) => e.state !== 'started');
  const measured = finals.filter((e) => e.state !== 'skipped');
  return measured[measured.length - 1] ?? finals[finals.length - 1];
}

/** A pair as its events say, on top of what plan (or a version 1 manifest) knew. */
function applyEvents(base: RoundPair, events: readonly EventKey[]): RoundPair {
  const started = events.filter((e) => e.state === 'started');
  const final = finalOf(events);
  const pair = { ...base };
  const lastStart = started[started.length - 1];
  if (lastStart !== undefined) pair.startedAt = lastStart.at;
  pair.attempts += started.length;
  if (final !== undefined) {
    pair.state = final.state as PairState;
    pair.finishedAt = final.at;
  }
  return pair;
}

export interface LoadOptions {
  /**
   * Read each pair's reason, connectivity and run id (one read per pair;
   * the default). With false a pair has its state, times and attempts only:
   * all plan, probe and sweep need, at one listing per round.
   */
  detail?: boolean;
}

/** The round as one view (layers/domain/round.ts), whichever version stored it. */
export async function loadManifest(
  store: ObjectStore,
  schedule: string,
  round: string,
  options: LoadOptions = {},
): Promise<RoundManifest | undefined> {
  const stored = await store.getJson(roundKey(schedule, round), storedSchema);
  if (stored === undefined) return undefined;
  const [plan, events] = await Promise.all([
    stored.version === 2
      ? store.getJson(`${roundPairsPrefix(schedule, round)}${PLAN_FILE}`, planSchema)
      : Promise.resolve(undefined),
    listEvents(store, schedule, round),
  ]);
  const byOwner = new Map(events.map((list) => [list[0]?.owner ?? '', list]));
  const base: RoundPair[] =
    stored.version === 1
      ? stored.pairs
      : (plan?.pairs ?? []).map(([src, dst, slot]) => queuedPair({ src, dst, slot }, stored.queuedAt));
  const pairs = base.map((pair) => applyEvents(pair, byOwner.get(pairOwner(pair)) ?? []));
  if (options.detail !== false) await withDetail(store, pairs, byOwner);
  const {
    version,
    pairs: _v1Pairs,
    counts: _stored,
    solo: _solo,
    ...fields
  } = stored.version === 1 ? stored : { ...stored, pairs: [] };
  const solo = await soloOf(store, stored, byOwner.get(SOLO_FOLDER) ?? []);
  return {
    ...pickRoundFields(fields),
    version,
    deadlineAt: stored.version === 2 ? stored.deadlineAt : null,
    pairs,
    counts: countPairs(pairs),
    ...(solo === undefined ? {} : { solo }),
  };
}

/** The fields every version shares (not a version 2 head's own bookkeeping). */
function pickRoundFields(
  stored: z.infer<z.ZodObject<typeof roundFields>>,
): z.infer<z.ZodObject<typeof roundFields>> {
  const picked: Record<string, unknown> = {};
  for (const name of Object.keys(roundFields)) {
    const value = (stored as Record<string, unknown>)[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked as z.infer<z.ZodObject<typeof roundFields>>;
}

async function withDetail(
  store: ObjectStore,
  pairs: RoundPair[],
  byOwner: ReadonlyMap<string, readonly EventKey[]>,
): Promise<void> {
  await inBatches(pairs, DETAIL_READS_AT_ONCE, async (pair) => {
    const events = byOwner.get(pairOwner(pair)) ?? [];
    const event = finalOf(events) ?? events[events.length - 1];
    if (event === undefined) return;
    const content = await store.getJson(event.key, pairEventSchema);
    if (content === undefined) return;
    pair.runId = content.runId;
    pair.connectivity = content.connectivity;
    pair.reason = content.reason;
  });
}

/** Reads of pair detail in flight at once: a 100-node round has 9900 pairs. */
const DETAIL_READS_AT_ONCE = 32;

async function inBatches<T>(
  items: readonly T[],
  size: number,
  each: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(each));
}

/** The solo check: its newest final event (else its start), or what plan queued. */
async function soloOf(
  store: ObjectStore,
  stored: z.infer<typeof storedSchema>,
  events: readonly EventKey[],
): Promise<SoloCheck | undefined> {
  if (stored.solo === undefined) return undefined;
  const event = finalOf(events) ?? events[events.length - 1];
  const saved = event === undefined ? undefined : await store.getJson(event.key, soloSchema);
  if (saved !== undefined) return saved;
  if (stored.version === 1) return stored.solo as SoloCheck;
  return {
    ...stored.solo,
    state: 'queued',
    queuedAt: stored.queuedAt,
    startedAt: null,
    finishedAt: null,
    parallelRunId: null,
    soloRunId: null,
    reason: null,
    ratios: [],
  };
}

/** The newest round of a schedule: by plan's pointer, else (buckets from before it) by listing. */
export async function latestManifest(
  store: ObjectStore,
  schedule: string,
  options: LoadOptions = {},
): Promise<RoundManifest | undefined> {
  const pointer = await store.getJson(latestRoundKey(schedule), z.object({ round: z.string() }));
  if (pointer !== undefined) return loadManifest(store, schedule, pointer.round, options);
  const keys = (await store.list(roundPrefix(schedule))).filter((k) => k.endsWith('.json')).sort();
  const newest = keys[keys.length - 1];
  if (newest === undefined) return undefined;
  const round = decodeSegment(newest.slice(roundPrefix(schedule).length, -'.json'.length));
  return loadManifest(store, schedule, round, options);
}

/** A new round: its pair list, then its head, then the pointer (a probe that gets a message finds all). */
export async function saveNewRound(store: ObjectStore, manifest: RoundManifest): Promise<void> {
  await savePlan(store, manifest);
  await writeHead(store, manifest);
  await store.putJson(latestRoundKey(manifest.schedule), { round: manifest.round });
}

async function savePlan(store: ObjectStore, manifest: RoundManifest): Promise<void> {
  const pairs = manifest.pairs.map((p) => (p.slot === undefined ? [p.src, p.dst] : [p.src, p.dst, p.slot]));
  await store.putJson(`${roundPairsPrefix(manifest.schedule, manifest.round)}${PLAN_FILE}`, { pairs });
}

/**
 * The head as the view says: when its pairs were queued, whether it is
 * closed. A round stored as version 1 is moved to version 2 first (its
 * pairs' states as events), so no state is lost.
 */
export async function saveHead(store: ObjectStore, manifest: RoundManifest): Promise<void> {
  if (manifest.version === 1) {
    await savePlan(store, manifest);
    for (const pair of manifest.pairs) {
      if (pair.startedAt !== null && !isFinished(pair)) await savePairEvent(store, manifest, pair);
      if (isFinished(pair)) await savePairEvent(store, manifest, pair);
    }
    if (manifest.solo !== undefined && manifest.solo.state !== 'queued') await saveSoloEvent(store, manifest);
    manifest.version = 2;
  }
  await writeHead(store, manifest);
}

async function writeHead(store: ObjectStore, manifest: RoundManifest): Promise<void> {
  manifest.counts = countPairs(manifest.pairs);
  const queued = manifest.pairs.find((p) => !isFinished(p)) ?? manifest.pairs[0];
  const { pairs: _pairs, counts, solo, version: _version, deadlineAt, ...fields } = manifest;
  const head: Head = {
    ...fields,
    version: 2,
    deadlineAt: deadlineAt ?? null,
    queuedAt: queued?.queuedAt ?? manifest.solo?.queuedAt ?? manifest.openedAt,
    total: manifest.pairs.length,
    counts: manifest.closedAt === null ? null : counts,
    ...(solo === undefined ? {} : { solo: { src: solo.src, dst: solo.dst } }),
  };
  await store.putJson(roundKey(manifest.schedule, manifest.round), head);
}

/**
 * One event of a pair, as the view now has it: started (queued with a
 * startedAt), or its final state. A new small object each time.
 */
export async function savePairEvent(
  store: ObjectStore,
  round: Pick<RoundManifest, 'schedule' | 'round'>,
  pair: RoundPair,
): Promise<void> {
  const state: EventState = isFinished(pair) ? (pair.state as EventState) : 'started';
  const at = (state === 'started' ? pair.startedAt : pair.finishedAt) ?? new Date().toISOString();
  const event: PairEvent = {
    state,
    at,
    runId: pair.runId,
    connectivity: pair.connectivity,
    reason: pair.reason,
  };
  await store.putJson(eventKey(round.schedule, round.round, pairOwner(pair), state, at), event);
}

/** The solo check as the view has it (started, or its result), a new small object each time. */
export async function saveSoloEvent(store: ObjectStore, manifest: RoundManifest): Promise<void> {
  const solo = manifest.solo;
  if (solo === undefined) return;
  const state: EventState = isFinished(solo) ? (solo.state as EventState) : 'started';
  const at = (state === 'started' ? solo.startedAt : solo.finishedAt) ?? new Date().toISOString();
  await store.putJson(eventKey(manifest.schedule, manifest.round, SOLO_FOLDER, state, at), solo);
}

/**
 * These pairs of the round as their events now say (a listing per pair, not
 * per round): what a probe needs to know before testing them.
 */
export async function refreshPairs(
  store: ObjectStore,
  manifest: RoundManifest,
  pairs: readonly RoundPair[],
): Promise<void> {
  await Promise.all(
    pairs.map(async (pair) => {
      const [events = []] = await listEvents(store, manifest.schedule, manifest.round, `${pairOwner(pair)}/`);
      Object.assign(pair, applyEvents({ ...pair, attempts: 0 }, events), {
        attempts: Math.max(pair.attempts, events.filter((e) => e.state === 'started').length),
      });
    }),
  );
  manifest.counts = countPairs(manifest.pairs);
}

/** The solo check as its events now say (one listing and at most one read). */
export async function refreshSolo(store: ObjectStore, manifest: RoundManifest): Promise<void> {
  if (manifest.solo === undefined) return;
  const [events = []] = await listEvents(store, manifest.schedule, manifest.round, `${SOLO_FOLDER}/`);
  const event = finalOf(events) ?? events[events.length - 1];
  const saved = event === undefined ? undefined : await store.getJson(event.key, soloSchema);
  if (saved !== undefined) manifest.solo = saved;
}
