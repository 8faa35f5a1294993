import { open } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { ArchiveError } from '../core/errors.ts';

/**
 * Reading a `.flent.gz` archive. The archive is untrusted input (it comes
 * back from S3, may be truncated by a crash, or be anything at all): sizes are
 * capped before and after decompression and the shape is checked before use.
 */

/** 64 MiB compressed, 512 MiB decompressed: an hour of rrul is well under 50 MiB. */
export const ARCHIVE_LIMITS = { maxCompressedBytes: 64 << 20, maxDecompressedBytes: 512 << 20 } as const;
export interface ArchiveLimits {
  maxCompressedBytes: number;
  maxDecompressedBytes: number;
}

const sample = z.union([z.number(), z.null()]);
const rawPoint = z.looseObject({
  t: z.number().optional(),
  val: z.union([z.number(), z.null()]).optional(),
  seq: z.number().optional(),
  lost: z.boolean().optional(),
  dur: z.number().optional(),
  // irtt: the one-way delays (ms) of a packet that came back, the leg a lost one was lost on.
  owd_up: z.union([z.number(), z.null()]).optional(),
  owd_down: z.union([z.number(), z.null()]).optional(),
  lost_dir: z.union([z.string(), z.null()]).optional(),
});
const seriesMeta = z.looseObject({
  UNITS: z.string().optional(),
  MEAN_VALUE: z.union([z.number(), z.null()]).optional(),
  PACKET_LOSS_RATE: z.union([z.number(), z.null()]).optional(),
  PACKETS_SENT: z.union([z.number(), z.null()]).optional(),
  PACKETS_RECEIVED: z.union([z.number(), z.null()]).optional(),
  RUNNER: z.string().optional(),
});

const archiveSchema = z.object({
  version: z.number().optional(),
  metadata: z.looseObject({
    NAME: z.string(),
    TITLE: z.string().nullable().optional(),
    TIME: z.string(),
    T0: z.string().nullable().optional(),
    LENGTH: z.number(),
    TOTAL_LENGTH: z.number(),
    STEP_SIZE: z.number().positive(),
    HOST: z.string().nullable().optional(),
    HOSTS: z.array(z.string()).default([]),
    FLENT_VERSION: z.string(),
    SERIES_META: z.record(z.string(), seriesMeta).default({}),
  }),
  x_values: z.array(z.number()),
  results: z.record(z.string(), z.array(sample)),
  raw_values: z.record(z.string(), z.array(rawPoint)).default({}),
});

export type FlentArchive = z.infer<typeof archiveSchema>;
export type RawPoint = z.infer<typeof rawPoint>;

/** Decompresses and validates archive bytes. */
export function parseArchive(
  bytes: Uint8Array,
  source = 'archive',
  limits: ArchiveLimits = ARCHIVE_LIMITS,
): FlentArchive {
  if (bytes.length > limits.maxCompressedBytes) {
    throw new ArchiveError(
      `${source}: ${bytes.length} bytes is over the limit of ${limits.maxCompressedBytes} compressed bytes`,
    );
  }
  let json: Buffer;
  try {
    json = gunzipSync(bytes, { maxOutputLength: limits.maxDecompressedBytes });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new ArchiveError(
        `${source}: decompresses to more than ${limits.maxDecompressedBytes} bytes; refusing it (raise the limit if the archive is genuine)`,
        { cause: err },
      );
    }
    const why = code === 'Z_BUF_ERROR' ? 'truncated gzip data' : 'not valid gzip data';
    throw new ArchiveError(`${source}: ${why} (${(err as Error).message})`, { cause: err });
  }
  let document: unknown;
  try {
    document = JSON.parse(json.toString('utf8'));
  } catch (err) {
    throw new ArchiveError(`${source}: not valid JSON inside the gzip (${(err as Error).message})`, {
      cause: err,
    });
  }
  const parsed = archiveSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(root)';
    throw new ArchiveError(`${source}: not a Flent archive: ${path}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Reads an archive file, refusing oversized files before reading them whole. */
export async function readArchiveFile(
  path: string,
  limits: ArchiveLimits = ARCHIVE_LIMITS,
): Promise<FlentArchive> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new ArchiveError(`${path}: cannot open (${(err as Error).message})`, { cause: err });
  }
  try {
    const { size } = await handle.stat();
    if (size > limits.maxCompressedBytes) {
      throw new ArchiveError(
        `${path}: ${size} bytes is over the limit of ${limits.maxCompressedBytes} compressed bytes`,
      );
    }
    return parseArchive(await handle.readFile(), path, limits);
  } finally {
    await handle.close();
  }
}
