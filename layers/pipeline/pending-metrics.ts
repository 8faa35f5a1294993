import { z } from 'zod';
import { errorLine } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { TestRecord } from '../domain/record.ts';
import { METRICS_PENDING_PREFIX, metricsPendingKey, pairStateKey } from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';
import { recordSchema } from './results.ts';

/**
 * What keeps a pair's metrics right when the Pushgateway is away: the
 * pair's last success in a small object of its own (a failed test carries
 * it forward without reading every group of the gateway), and a marker per
 * pair whose newest result the gateway did not take, pushed again by the
 * next probe run so Prometheus catches up.
 */

const pairStateSchema = z.object({ lastSuccessTime: z.string().nullable(), resultKey: z.string() });
const pendingSchema = z.object({ resultKey: z.string() });

/** The record's lastSuccessTime: its own end on success, else the pair's state (absent when unknown). */
export async function withLastSuccess(store: ObjectStore, record: TestRecord): Promise<void> {
  if (record.connectivity === 1) {
    record.lastSuccessTime = record.endTime;
    return;
  }
  const state = await store
    .getJson(pairStateKey(record.schedule, record.src, record.dst), pairStateSchema)
    .catch((err) => {
      log.warn({ err: errorLine(err), src: record.src, dst: record.dst }, 'pair state unreadable');
      return undefined;
    });
  if (state !== undefined) record.lastSuccessTime = state.lastSuccessTime;
}

export function savePairState(store: ObjectStore, record: TestRecord, resultKey: string): Promise<void> {
  return store.putJson(pairStateKey(record.schedule, record.src, record.dst), {
    lastSuccessTime: record.lastSuccessTime ?? null,
    resultKey,
  });
}

export class PendingMetrics {
  private readonly store: ObjectStore;
  private readonly publish: (record: TestRecord) => Promise<void>;
  /** Markers known to exist: a newer push of the pair removes its marker, so an old one never wins. */
  private readonly pending = new Set<string>();

  constructor(store: ObjectStore, publish: (record: TestRecord) => Promise<void>) {
    this.store = store;
    this.publish = publish;
  }

  /** Pushes the results earlier runs could not; stops at the first refusal (the gateway is still away). */
  async catchUp(): Promise<number> {
    const keys = await this.store.list(METRICS_PENDING_PREFIX);
    for (const key of keys) this.pending.add(key);
    let pushed = 0;
    for (const key of keys) {
      const marker = await this.store.getJson(key, pendingSchema);
      const record =
        marker === undefined ? undefined : await this.store.getJson(marker.resultKey, recordSchema);
      if (record !== undefined) {
        try {
          await this.publish(record as unknown as TestRecord);
        } catch (err) {
          log.warn({ err: errorLine(err), left: keys.length - pushed }, 'metrics still not pushed');
          return pushed;
        }
        pushed++;
      }
      await this.store.delete([key]);
      this.pending.delete(key);
    }
    if (pushed > 0) log.info({ pushed }, 'metrics of earlier results pushed');
    return pushed;
  }

  /**
   * Pushes a fresh record; a refusal leaves a marker for the next run (the
   * result is stored already). A record that measured nothing (the test
   * broke) only adds to the pair's group: it never takes the place of a
   * pending measured result, whose marker stays until that result is pushed.
   */
  async push(record: TestRecord, resultKey: string): Promise<boolean> {
    const key = metricsPendingKey(record.schedule, record.src, record.dst);
    const measured = record.connectivity !== null;
    try {
      await this.publish(record);
    } catch (err) {
      log.error(
        { err: errorLine(err), src: record.src, dst: record.dst },
        'metrics not pushed; the result is stored and the next probe run pushes it',
      );
      if (!measured && this.pending.has(key)) return false;
      await this.store
        .putJson(key, { resultKey })
        .then(() => this.pending.add(key))
        .catch((e) => log.error({ err: errorLine(e) }, 'metrics marker not written'));
      return false;
    }
    if (measured && this.pending.delete(key)) await this.store.delete([key]);
    return true;
  }
}
