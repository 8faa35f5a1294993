import { z } from 'zod';
import type { PeerProbes } from '../domain/sweep.ts';
import { ReportError, TERMINATION_MESSAGE_LIMIT } from './compact.ts';

/**
 * A sweep pod's report through its termination message (at most 4096 bytes):
 * one row per peer in the order the pod was given its targets, RTTs as
 * integers in units of 10^-e s. e starts at 6 (microseconds): 99 peers of
 * 1 ms RTTs take about 2.5 KB; slower paths drop a digit until it fits.
 */

/** [sent, received] without replies, else [sent, received, min, median, p99] */
const rowSchema = z.union([
  z.tuple([z.number(), z.number()]),
  z.tuple([z.number(), z.number(), z.number(), z.number(), z.number()]),
]);
const reportSchema = z.object({
  v: z.literal(1),
  start: z.string(),
  dur: z.number(),
  e: z.number().int().min(0).max(9).optional(),
  r: z.array(rowSchema).optional(),
  error: z.string().optional(),
});
type Report = z.infer<typeof reportSchema>;

export interface SweepReport {
  start: string;
  durationSeconds: number;
  /** Each target's probes, or why the pod could not probe. */
  peers: PeerProbes[] | string;
}

function rows(peers: readonly PeerProbes[], exponent: number): Report['r'] {
  const scale = 10 ** exponent;
  const unit = (v: number | null): number => Math.round((v ?? 0) * scale);
  return peers.map((p) =>
    p.received === 0
      ? [p.sent, 0]
      : [p.sent, p.received, unit(p.rttMinSeconds), unit(p.rttMedianSeconds), unit(p.rttP99Seconds)],
  );
}

export function encodeSweepReport(report: SweepReport): string {
  const base = { v: 1 as const, start: report.start, dur: Number(report.durationSeconds.toFixed(3)) };
  if (typeof report.peers === 'string')
    return JSON.stringify({ ...base, error: report.peers.slice(0, TERMINATION_MESSAGE_LIMIT - 200) });
  for (let e = 6; e >= 0; e--) {
    const text = JSON.stringify({ ...base, e, r: rows(report.peers, e) });
    if (Buffer.byteLength(text) <= TERMINATION_MESSAGE_LIMIT) return text;
  }
  throw new ReportError(
    `a sweep of ${report.peers.length} peers does not fit in ${TERMINATION_MESSAGE_LIMIT} bytes`,
  );
}

/** Reads a sweep pod's termination message back; `targets` are the peers' names in the pod's order. */
export function decodeSweepReport(text: string, targets: readonly string[]): SweepReport {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new ReportError(`the sweep report is not JSON: ${JSON.stringify(text.slice(0, 120))}`, {
      cause: err,
    });
  }
  const parsed = reportSchema.safeParse(document);
  if (!parsed.success)
    throw new ReportError(`the sweep report is malformed: ${parsed.error.issues[0]?.message}`);
  const report = parsed.data;
  const base = { start: report.start, durationSeconds: report.dur };
  if (report.error !== undefined || report.r === undefined)
    return { ...base, peers: report.error ?? 'the sweep report has neither rows nor an error' };
  if (report.r.length !== targets.length)
    throw new ReportError(`the sweep report has ${report.r.length} rows for ${targets.length} peers`);
  const scale = 10 ** -(report.e ?? 6);
  const peers = report.r.map((row, i): PeerProbes => {
    const [sent, received, min, median, p99] = row;
    const seconds = (v: number | undefined): number | null => (v === undefined ? null : v * scale);
    return {
      dst: targets[i] as string,
      sent,
      received,
      rttMinSeconds: seconds(min),
      rttMedianSeconds: seconds(median),
      rttP99Seconds: seconds(p99),
    };
  });
  return { ...base, peers };
}
