import { z } from 'zod';
import { concurrencySchema } from '../core/schedules.ts';
import { countPairs, PAIR_STATES, type RoundManifest, SOLO_FIGURES } from '../domain/round.ts';

import { TEST_NAMES } from '../domain/test-types.ts';
import { roundKey, roundPrefix } from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';

/**
 * Round manifests in S3 (the shape is layers/domain/round.ts). The manifest
 * is the round's own record: plan decides from it what to enqueue, probe
 * from it whether a redelivered message was already done. The queue alone
 * can do neither (local-aws-sqs forgets deduplication ids).
 */

const pairSchema = z.object({
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

export const manifestSchema = z.object({
  version: z.literal(1),
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
  pairs: z.array(pairSchema),
  counts: z.object({ total: z.number(), done: z.number(), failed: z.number(), skipped: z.number() }),
  concurrency: concurrencySchema.optional(),
  solo: soloSchema.optional(),
}) satisfies z.ZodType<RoundManifest, unknown>;

export function saveManifest(store: ObjectStore, manifest: RoundManifest): Promise<void> {
  manifest.counts = countPairs(manifest.pairs);
  return store.putJson(roundKey(manifest.schedule, manifest.round), manifest);
}

export function loadManifest(
  store: ObjectStore,
  schedule: string,
  round: string,
): Promise<RoundManifest | undefined> {
  return store.getJson(roundKey(schedule, round), manifestSchema);
}

/** The newest round of a schedule (round ids sort by time). */
export async function latestManifest(
  store: ObjectStore,
  schedule: string,
): Promise<RoundManifest | undefined> {
  const keys = (await store.list(roundPrefix(schedule))).filter((k) => k.endsWith('.json')).sort();
  const newest = keys[keys.length - 1];
  return newest === undefined ? undefined : store.getJson(newest, manifestSchema);
}
