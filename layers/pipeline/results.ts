import { z } from 'zod';
import { ValidationError } from '../core/errors.ts';
import type { TestRecord } from '../domain/record.ts';
import type { RoundManifest } from '../domain/round.ts';
import { decodeSegment, resultKey, resultPrefix, roundPrefix } from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';
import { loadManifest } from './round.ts';

/**
 * Reading back what the pipeline stored: schedules, rounds and their
 * results, for operators (the `netmon results` commands).
 */

/** Result records are our own output, but read from S3: check the fields that tables use. */
export const recordSchema = z.looseObject({
  version: z.literal(1),
  schedule: z.string(),
  round: z.string(),
  src: z.string(),
  dst: z.string(),
  test: z.string(),
  startTime: z.string(),
  endTime: z.string(),
  // null: not measured (the test broke, `reason` says how); records before it have 0 or 1.
  connectivity: z.union([z.literal(0), z.literal(1), z.null()]),
  reason: z.string().nullable(),
  archiveKey: z.string().nullable(),
});

export async function listSchedules(store: ObjectStore): Promise<string[]> {
  const prefixes = await store.listPrefixes('rounds/');
  return prefixes.map((p) => decodeSegment(p.slice('rounds/'.length, -1))).sort();
}

/** The ids of a schedule's rounds, oldest first. */
async function roundIds(store: ObjectStore, schedule: string): Promise<string[]> {
  const prefix = roundPrefix(schedule);
  return (await store.list(prefix))
    .filter((k) => k.endsWith('.json') && !k.slice(prefix.length).includes('/'))
    .sort()
    .map((k) => decodeSegment(k.slice(prefix.length, -'.json'.length)));
}

/** Every round of a schedule with its progress (states, not each pair's reason), oldest first. */
export async function listRounds(store: ObjectStore, schedule: string): Promise<RoundManifest[]> {
  await requireSchedule(store, schedule);
  const manifests: RoundManifest[] = [];
  for (const round of await roundIds(store, schedule)) {
    const manifest = await loadManifest(store, schedule, round, { detail: false });
    if (manifest) manifests.push(manifest);
  }
  return manifests;
}

async function requireSchedule(store: ObjectStore, schedule: string): Promise<void> {
  const known = await listSchedules(store);
  if (!known.includes(schedule)) {
    throw new ValidationError(
      '--schedule',
      schedule,
      known.length === 0
        ? 'a schedule with rounds, but the bucket has none yet'
        : `one of ${known.join(', ')}`,
    );
  }
}

/** The round named, or the newest one; a clear error when there is none. */
export async function findRound(
  store: ObjectStore,
  schedule: string,
  round?: string,
): Promise<RoundManifest> {
  if (round !== undefined && round !== 'latest') {
    await requireSchedule(store, schedule);
    const manifest = await loadManifest(store, schedule, round);
    if (!manifest) {
      const rounds = await roundIds(store, schedule);
      throw new ValidationError(
        '--round',
        round,
        `one of ${rounds.slice(-5).join(', ')} (newest last) or latest`,
      );
    }
    return manifest;
  }
  await requireSchedule(store, schedule);
  const rounds = await roundIds(store, schedule);
  const newest = rounds[rounds.length - 1];
  const manifest = newest === undefined ? undefined : await loadManifest(store, schedule, newest);
  if (!manifest) throw new ValidationError('--schedule', schedule, 'a schedule with at least one round');
  return manifest;
}

export type StoredRecord = z.infer<typeof recordSchema> & Partial<Pick<TestRecord, 'summary' | 'runId'>>;

export async function roundResults(store: ObjectStore, manifest: RoundManifest): Promise<StoredRecord[]> {
  const records: StoredRecord[] = [];
  for (const key of (await store.list(resultPrefix(manifest.schedule, manifest.round))).sort()) {
    const record = await store.getJson(key, recordSchema);
    if (record) records.push(record as StoredRecord);
  }
  return records;
}

export async function pairResult(
  store: ObjectStore,
  manifest: RoundManifest,
  src: string,
  dst: string,
): Promise<StoredRecord> {
  const record = await store.getJson(resultKey(manifest.schedule, manifest.round, src, dst), recordSchema);
  if (!record) {
    const pairs = manifest.pairs.map((p) => `${p.src}->${p.dst}`);
    throw new ValidationError(
      '--src/--dst',
      `${src}->${dst}`,
      `a tested pair of round ${manifest.round}: ${pairs.join(', ')}`,
    );
  }
  return record as StoredRecord;
}
