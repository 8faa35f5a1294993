import type { TestRecord } from '../../layers/domain/record.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';

/** Every record of a round, as the probe stored them under results/. */
export async function roundRecords(
  store: ObjectStore,
  schedule: string,
  round: string,
): Promise<TestRecord[]> {
  const keys = await store.list(`results/${schedule}/${round}/`);
  return Promise.all(
    keys.map(
      async (key) => JSON.parse(Buffer.from((await store.getBytes(key)) ?? []).toString()) as TestRecord,
    ),
  );
}

/** Pairs of records whose tests overlapped in time and shared a node: none, in any round. */
export function sharedNodeOverlaps(records: readonly TestRecord[]): string[] {
  const found: string[] = [];
  for (const [i, a] of records.entries())
    for (const b of records.slice(i + 1)) {
      const shared = [a.src, a.dst].some((n) => n === b.src || n === b.dst);
      const overlap =
        Date.parse(a.startTime) < Date.parse(b.endTime) && Date.parse(b.startTime) < Date.parse(a.endTime);
      if (shared && overlap) found.push(`${a.src}>${a.dst} with ${b.src}>${b.dst}`);
    }
  return found;
}
