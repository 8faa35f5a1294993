import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { errorLine } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { TestRecord } from '../domain/record.ts';
import { compactTime } from '../store/keys.ts';

/**
 * Results S3 would not take, kept on this host until it does (the local
 * runner's probe: its archives are files here). One folder per test: the
 * record, and the archive moved in beside it. Bounded by bytes: a result
 * that does not fit is not kept, and its message comes back for another
 * test, as without a spool. The next probe run delivers what is here before
 * it takes a message (layers/pipeline/probe.ts).
 */

export interface SpooledResult {
  record: TestRecord;
  /** The archive in the spool, to upload to record.archiveKey; absent when the test wrote none. */
  archivePath?: string;
}

const RECORD_FILE = 'record.json';
const ARCHIVE_FILE = 'archive.flent.gz';

/** The spooled record is our own output: only its identity is checked here, the rest is carried. */
const spooledSchema = z.looseObject({
  schedule: z.string(),
  round: z.string(),
  src: z.string(),
  dst: z.string(),
  runId: z.string(),
  archiveKey: z.string().nullable(),
});

export class ResultSpool {
  readonly dir: string;
  readonly maxBytes: number;

  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  /** Keeps the result (moving its archive here); false when it does not fit. */
  async keep(record: TestRecord, archivePath: string | undefined): Promise<boolean> {
    const recordText = `${JSON.stringify(record)}\n`;
    const archiveBytes = archivePath === undefined ? 0 : (await stat(archivePath)).size;
    const used = await this.bytes();
    if (used + archiveBytes + Buffer.byteLength(recordText) > this.maxBytes) {
      log.error(
        { used, maxBytes: this.maxBytes, src: record.src, dst: record.dst },
        'result spool full: this result is not kept, its test runs again',
      );
      return false;
    }
    const folder = join(this.dir, `${compactTime(new Date())}-${record.runId}`);
    await mkdir(folder, { recursive: true });
    if (archivePath !== undefined) await rename(archivePath, join(folder, ARCHIVE_FILE));
    // The record last: a folder without it is an unfinished keep, and skipped.
    await writeFile(join(folder, RECORD_FILE), recordText);
    return true;
  }

  /** Oldest first; each delivered (then removed) or left for the next time. */
  async deliver(
    send: (result: SpooledResult) => Promise<void>,
  ): Promise<{ delivered: number; left: number }> {
    const folders = (await readdir(this.dir).catch(() => [] as string[])).sort();
    let delivered = 0;
    for (const [index, name] of folders.entries()) {
      const folder = join(this.dir, name);
      const text = await readFile(join(folder, RECORD_FILE), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const parsed = spooledSchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        log.error({ folder, err: parsed.error.message }, 'unreadable spooled result: left where it is');
        continue;
      }
      const archive = join(folder, ARCHIVE_FILE);
      const hasArchive = await stat(archive).then(
        () => true,
        () => false,
      );
      try {
        await send({
          record: parsed.data as unknown as TestRecord,
          ...(hasArchive ? { archivePath: archive } : {}),
        });
      } catch (err) {
        // S3 still away: the rest waits too (they would fail the same way).
        log.warn({ err: errorLine(err), left: folders.length - index }, 'spooled results not delivered yet');
        return { delivered, left: folders.length - index };
      }
      await rm(folder, { recursive: true, force: true });
      delivered++;
    }
    return { delivered, left: 0 };
  }

  async bytes(): Promise<number> {
    let total = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      for (const file of await readdir(join(this.dir, name)).catch(() => [] as string[]))
        total += (await stat(join(this.dir, name, file)).catch(() => ({ size: 0 }))).size;
    }
    return total;
  }
}
