import { z } from 'zod';
import { ValidationError } from '../core/errors.ts';
import type { TestRecord } from '../domain/record.ts';
import type { RoundManifest } from '../domain/round.ts';
import { decodeSegment, resultKey, resultPrefix, roundPrefix } from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';
import { loadManifest, manifestSchema } from './round.ts';

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
  connectivity: z.union([z.literal(0), z.literal(1)]),
  reason: z.string().nullable(),
  archiveKey: z.string().nullable(),
});

export async function listSchedules(store: ObjectStore): Promise<string[]> {
  const prefixes = await store.listPrefixes('rounds/');
  return prefixes.map((p) => decodeSegment(p.slice('rounds/'.length, -1))).sort();
}

export async function listRounds(store: ObjectStore, schedule: string): Promise<RoundManifest[]> {
  await requireSchedule(store, schedule);
  const keys = (await store.list(roundPrefix(schedule))).filter((k) => k.endsWith('.json')).sort();
  const manifests: RoundManifest[] = [];
  for (const key of keys) {
    const manifest = await store.getJson(key, manifestSchema);
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
      const rounds = (await listRounds(store, schedule)).map((m) => m.round);
      throw new ValidationError(
        '--round',
        round,
        `one of ${rounds.slice(-5).join(', ')} (newest last) or latest`,
      );
    }
    return manifest;
  }
  const rounds = await listRounds(store, schedule);
  const newest = rounds[rounds.length - 1];
  if (!newest) throw new ValidationError('--schedule', schedule, 'a schedule with at least one round');
  return newest;
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
