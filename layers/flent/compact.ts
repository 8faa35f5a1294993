import { z } from 'zod';
import { NetmonError } from '../core/errors.ts';
import type { ClockState } from '../domain/clock.ts';
import type { FlentSummary, OneWayLeg, OneWaySeries, SeriesStats } from '../domain/figures.ts';
import {
  FAILURE_REASONS,
  type FlentOutcome,
  type ReportedOutcome,
  type TestFailure,
} from '../domain/outcome.ts';
import { assembleSummary, seriesKindOf } from './summary.ts';

/**
 * The agent's report to the probe, through the client pod's termination
 * message: Kubernetes keeps at most 4096 bytes of it. Figures keep 6
 * significant digits; when a report would still be too long, per-flow
 * series go first, then the stderr tail, then the message is cut.
 */
export const TERMINATION_MESSAGE_LIMIT = 4096;

export class ReportError extends NetmonError {
  override name = 'ReportError';
}

/** [count, min, mean, median, p99, max, lossRatio] */
type SeriesRow = [
  number,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
];

const row = z.tuple([
  z.number(),
  z.number().nullable(),
  z.number().nullable(),
  z.number().nullable(),
  z.number().nullable(),
  z.number().nullable(),
  z.number().nullable(),
]);

/** One leg of an irtt series: [count, min, mean, median, p99, max, lost, lossRatio] */
type LegRow = [
  number,
  number | null,
  number | null,
  number | null,
  number | null,
  number | null,
  number,
  number | null,
];
/** [packetsSent, packetsReceived, lossRatio, lostUnknown, up, down] */
type OneWayRow = [number, number, number | null, number, LegRow, LegRow];

const legRow = z.tuple([
  z.number(),
  z.number().nullable(),
  z.number().nullable(),
  z.number().nullable(),
  z.number().nullable(),
  z.number().nullable(),
  z.number(),
  z.number().nullable(),
]);
const oneWayRow = z.tuple([z.number(), z.number(), z.number().nullable(), z.number(), legRow, legRow]);

/** The agent's clock: [clockId, synchronised, errorBoundSeconds, source] */
const clockRow = z.tuple([
  z.string().nullable(),
  z.boolean(),
  z.number().nullable(),
  z.enum(['kernel', 'chrony']),
]);

const reportSchema = z.object({
  v: z.literal(1),
  ok: z.boolean(),
  test: z.string(),
  host: z.string(),
  start: z.string(),
  dur: z.number(),
  archiveKey: z.string().nullable(),
  // src's clock around the test; absent from older agents' reports.
  clock: clockRow.nullable().optional(),
  summary: z
    .object({
      title: z.string().nullable(),
      len: z.number(),
      total: z.number(),
      step: z.number(),
      hosts: z.array(z.string()),
      flent: z.string(),
      series: z.record(z.string(), row),
      // udp_latency's one-way figures per irtt series; absent for other tests (and ignored by older readers).
      oneWay: z.record(z.string(), oneWayRow).optional(),
    })
    .nullable(),
  failure: z
    .object({
      reason: z.enum(FAILURE_REASONS),
      message: z.string(),
      exitCode: z.number().nullable(),
      signal: z.string().nullable(),
      stderrTail: z.string(),
    })
    .nullable(),
});
type Report = z.infer<typeof reportSchema>;

const round6 = (value: number | null): number | null =>
  value === null ? null : Number(value.toPrecision(6));

function toRow(s: SeriesStats): SeriesRow {
  return [
    s.count,
    round6(s.min),
    round6(s.mean),
    round6(s.median),
    round6(s.p99),
    round6(s.max),
    round6(s.lossRatio),
  ];
}

function toLegRow(leg: OneWayLeg): LegRow {
  return [
    leg.count,
    round6(leg.min),
    round6(leg.mean),
    round6(leg.median),
    round6(leg.p99),
    round6(leg.max),
    leg.lost,
    round6(leg.lossRatio),
  ];
}

function toOneWayRow(o: OneWaySeries): OneWayRow {
  return [
    o.packetsSent,
    o.packetsReceived,
    round6(o.lossRatio),
    o.lostUnknown,
    toLegRow(o.up),
    toLegRow(o.down),
  ];
}

function fromLegRow([count, min, mean, median, p99, max, lost, lossRatio]: LegRow): OneWayLeg {
  return { count, min, mean, median, p99, max, lost, lossRatio };
}

function toClockRow(clock: ClockState | null): z.infer<typeof clockRow> | null {
  return clock === null ? null : [clock.clockId, clock.synchronised, clock.errorBoundSeconds, clock.source];
}

function fromClockRow(row: z.infer<typeof clockRow> | null | undefined): ClockState | null {
  if (row === null || row === undefined) return null;
  const [clockId, synchronised, errorBoundSeconds, source] = row;
  return { clockId, synchronised, errorBoundSeconds, source };
}

/** The report for one agent run, at most TERMINATION_MESSAGE_LIMIT bytes. */
export function encodeReport(
  outcome: FlentOutcome,
  host: string,
  archiveKey: string | null,
  clock: ClockState | null = null,
): string {
  const report: Report = outcome.ok
    ? {
        v: 1,
        ok: true,
        test: outcome.summary.test,
        host,
        start: outcome.summary.startTime,
        dur: round6(outcome.durationSeconds) ?? 0,
        archiveKey,
        clock: toClockRow(clock),
        summary: {
          title: outcome.summary.title,
          len: outcome.summary.lengthSeconds,
          total: outcome.summary.totalLengthSeconds,
          step: outcome.summary.stepSeconds,
          hosts: outcome.summary.hosts,
          flent: outcome.summary.flentVersion,
          series: Object.fromEntries(
            Object.entries(outcome.summary.series).map(([name, s]) => [name, toRow(s)]),
          ),
          ...(outcome.summary.oneWay === undefined
            ? {}
            : {
                oneWay: Object.fromEntries(
                  Object.entries(outcome.summary.oneWay).map(([name, o]) => [name, toOneWayRow(o)]),
                ),
              }),
        },
        failure: null,
      }
    : {
        v: 1,
        ok: false,
        test: outcome.failure.test,
        host,
        start: outcome.failure.startTime,
        dur: round6(outcome.failure.durationSeconds) ?? 0,
        archiveKey,
        clock: toClockRow(clock),
        summary: null,
        failure: {
          reason: outcome.failure.reason,
          message: outcome.failure.message,
          exitCode: outcome.failure.exitCode,
          signal: outcome.failure.signal,
          stderrTail: outcome.failure.stderrTail,
        },
      };
  return fitWithinLimit(report);
}

function bytes(report: Report): number {
  return Buffer.byteLength(JSON.stringify(report));
}

function fitWithinLimit(report: Report): string {
  const series = report.summary?.series;
  if (series !== undefined && bytes(report) > TERMINATION_MESSAGE_LIMIT) {
    // rrul's per-flow series are detail; the direction sums and latencies are the figures.
    for (const name of Object.keys(series)) {
      if (/^TCP (upload|download) (?!sum$)/.test(name) || name === 'TCP totals') delete series[name];
    }
  }
  if (report.failure && bytes(report) > TERMINATION_MESSAGE_LIMIT) report.failure.stderrTail = '';
  while (report.failure && bytes(report) > TERMINATION_MESSAGE_LIMIT) {
    report.failure.message = report.failure.message.slice(0, Math.floor(report.failure.message.length / 2));
  }
  const text = JSON.stringify(report);
  if (Buffer.byteLength(text) > TERMINATION_MESSAGE_LIMIT) {
    throw new ReportError(
      `the agent's report is ${Buffer.byteLength(text)} bytes, over ${TERMINATION_MESSAGE_LIMIT}`,
    );
  }
  return text;
}

export interface DecodedReport {
  outcome: ReportedOutcome;
  archiveKey: string | null;
  /** src's clock as the agent read it; null when it could not (or an older agent). */
  clock: ClockState | null;
}

/** Reads a termination message back into an outcome; a ReportError when it is not one. */
export function decodeReport(text: string): DecodedReport {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new ReportError(`the agent's report is not JSON: ${JSON.stringify(text.slice(0, 120))}`, {
      cause: err,
    });
  }
  const parsed = reportSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ReportError(
      `the agent's report is malformed at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  const report = parsed.data;
  if (report.ok && report.summary) {
    return {
      outcome: { ok: true, summary: toSummary(report), durationSeconds: report.dur },
      archiveKey: report.archiveKey,
      clock: fromClockRow(report.clock),
    };
  }
  const f = report.failure;
  const failure: TestFailure = {
    connectivity: 0,
    reason: f?.reason ?? 'tool-error',
    message: f?.message ?? 'the agent reported neither a summary nor a failure',
    test: report.test,
    host: report.host,
    exitCode: f?.exitCode ?? null,
    signal: f?.signal ?? null,
    stderrTail: f?.stderrTail ?? '',
    startTime: report.start,
    durationSeconds: report.dur,
  };
  return {
    outcome: { ok: false, failure },
    archiveKey: report.archiveKey,
    clock: fromClockRow(report.clock),
  };
}

function toSummary(report: Report): FlentSummary {
  const s = report.summary as NonNullable<Report['summary']>;
  const series: Record<string, SeriesStats> = {};
  for (const [name, [count, min, mean, median, p99, max, lossRatio]] of Object.entries(s.series)) {
    const kind = seriesKindOf(name);
    if (kind === undefined) continue;
    series[name] = { count, min, mean, median, p99, max, lossRatio, ...kind, runner: null };
  }
  return assembleSummary(
    {
      test: report.test,
      title: s.title,
      lengthSeconds: s.len,
      totalLengthSeconds: s.total,
      stepSeconds: s.step,
      startTime: report.start,
      hosts: s.hosts,
      flentVersion: s.flent,
      unknownUnitSeries: [],
    },
    series,
    s.oneWay === undefined
      ? undefined
      : Object.fromEntries(
          Object.entries(s.oneWay).map(([name, [sent, received, lossRatio, lostUnknown, up, down]]) => [
            name,
            {
              packetsSent: sent,
              packetsReceived: received,
              lossRatio,
              lostUnknown,
              up: fromLegRow(up),
              down: fromLegRow(down),
            },
          ]),
        ),
  );
}
