import { describe, scaleDistribution } from '../core/stats.ts';
import type {
  DirectionThroughput,
  Distribution,
  FlentSummary,
  OneWayLeg,
  OneWaySeries,
  SeriesKind,
  SeriesStats,
  SeriesUnit,
} from '../domain/figures.ts';
import { type Direction, isTestName, TEST_TYPES } from '../domain/test-types.ts';
import type { FlentArchive, RawPoint } from './archive.ts';

/**
 * The typed summary of one Flent archive, in base units: seconds and bits per
 * second. Figures follow flent's own `-f stats` rules so that both agree:
 * mean is the tool's own mean when the archive records one (netperf's
 * bytes/time, fping's mean), otherwise the mean of the raw samples; min,
 * median, p99 and max come from the raw samples, or from the interpolated
 * series when a series has no raw samples (flent's computed sums and averages).
 */

/** Flent's unit -> factor to the base unit. */
const UNIT_MS = 1e-3;
const UNITS: Record<string, { unit: SeriesUnit; kind: SeriesKind; factor: number }> = {
  ms: { unit: 's', kind: 'latency', factor: UNIT_MS },
  s: { unit: 's', kind: 'latency', factor: 1 },
  'bits/s': { unit: 'bit/s', kind: 'throughput', factor: 1 },
  'Kbits/s': { unit: 'bit/s', kind: 'throughput', factor: 1e3 },
  'Mbits/s': { unit: 'bit/s', kind: 'throughput', factor: 1e6 },
  'Gbits/s': { unit: 'bit/s', kind: 'throughput', factor: 1e9 },
};

function unitOf(name: string, declared: string | undefined): string | undefined {
  if (declared) return declared;
  // Older archives lack UNITS for computed series; the name carries it.
  if (name.startsWith('Ping (ms)')) return 'ms';
  if (name.startsWith('TCP ')) return 'Mbits/s';
  return undefined;
}

function rawSamples(points: readonly RawPoint[] | undefined): number[] {
  if (!points) return [];
  const values: number[] = [];
  for (const point of points) {
    if (typeof point.val === 'number' && Number.isFinite(point.val) && point.lost !== true)
      values.push(point.val);
  }
  return values;
}

function lossRatio(archive: FlentArchive, name: string, received: number): number | null {
  const meta = archive.metadata.SERIES_META[name];
  const declared = meta?.PACKET_LOSS_RATE;
  if (typeof declared === 'number' && Number.isFinite(declared)) return clamp01(declared);
  const points = archive.raw_values[name];
  // Only probe series (fping, ping, irtt) number their samples; netperf's UDP_RR rates are not probes.
  if (!points?.some((point) => typeof point.seq === 'number')) return null;
  const md = archive.metadata;
  const expected = Math.round(md.TOTAL_LENGTH / md.STEP_SIZE);
  if (expected <= 0) return null;
  return clamp01(1 - received / expected);
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}

function seriesStats(archive: FlentArchive, name: string, factor: number): Distribution {
  const raw = rawSamples(archive.raw_values[name]);
  const values =
    raw.length > 0
      ? raw
      : (archive.results[name] ?? []).filter((v): v is number => v !== null && Number.isFinite(v));
  const distribution = describe(values);
  const toolMean = archive.metadata.SERIES_META[name]?.MEAN_VALUE;
  if (typeof toolMean === 'number' && Number.isFinite(toolMean) && toolMean !== 0 && values.length > 0) {
    distribution.mean = toolMean;
  }
  return scaleDistribution(distribution, factor);
}

/** Finite numbers only: irtt's raw values are ms, null or absent where a packet was lost. */
function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * The one-way figures of an irtt series from its raw values: per packet that
 * came back its delays up (owd_up) and down (owd_down), per lost packet the
 * leg irtt found it lost on (lost_dir "up" or "down"; anything else, e.g. the
 * "true" flent keeps when irtt could not tell, is lostUnknown). Counts are
 * over irtt's own packets sent (PACKETS_SENT), or the raw values when the
 * archive lacks it.
 */
export function oneWaySeries(archive: FlentArchive, name: string): OneWaySeries {
  const meta = archive.metadata.SERIES_META[name];
  const up: number[] = [];
  const down: number[] = [];
  const lost = { up: 0, down: 0, unknown: 0 };
  let points = 0;
  for (const point of archive.raw_values[name] ?? []) {
    points++;
    if (point.lost === true) {
      if (point.lost_dir === 'up' || point.lost_dir === 'down') lost[point.lost_dir]++;
      else lost.unknown++;
      continue;
    }
    if (finite(point.owd_up)) up.push(point.owd_up);
    if (finite(point.owd_down)) down.push(point.owd_down);
  }
  const lostAll = lost.up + lost.down + lost.unknown;
  const sent = finite(meta?.PACKETS_SENT) ? meta.PACKETS_SENT : points;
  const received = finite(meta?.PACKETS_RECEIVED) ? meta.PACKETS_RECEIVED : points - lostAll;
  const ratio = (count: number): number | null => (sent > 0 ? clamp01(count / sent) : null);
  const leg = (delays: number[], lostOnLeg: number): OneWayLeg => ({
    ...scaleDistribution(describe(delays), UNIT_MS),
    lost: lostOnLeg,
    lossRatio: ratio(lostOnLeg),
  });
  const declared = meta?.PACKET_LOSS_RATE;
  return {
    packetsSent: sent,
    packetsReceived: received,
    lossRatio: finite(declared) ? clamp01(declared) : ratio(lostAll),
    lostUnknown: lost.unknown,
    up: leg(up, lost.up),
    down: leg(down, lost.down),
  };
}

/** The one-way figures of the series the test's registry entry names (udp_latency), undefined for other tests. */
function oneWayOf(
  archive: FlentArchive,
  series: Record<string, SeriesStats>,
): Record<string, OneWaySeries> | undefined {
  const test = archive.metadata.NAME;
  const names = isTestName(test) ? TEST_TYPES[test].oneWay : [];
  if (names.length === 0) return undefined;
  return Object.fromEntries(
    names.filter((name) => series[name] !== undefined).map((name) => [name, oneWaySeries(archive, name)]),
  );
}

export function summarizeArchive(archive: FlentArchive): FlentSummary {
  const md = archive.metadata;
  const names = [...new Set([...Object.keys(archive.results), ...Object.keys(md.SERIES_META)])].sort();
  const series: Record<string, SeriesStats> = {};
  const unknownUnitSeries: string[] = [];
  for (const name of names) {
    const meta = md.SERIES_META[name];
    const unitName = unitOf(name, meta?.UNITS);
    const unit = unitName === undefined ? undefined : UNITS[unitName];
    if (!unit) {
      unknownUnitSeries.push(name);
      continue;
    }
    const stats = seriesStats(archive, name, unit.factor);
    series[name] = {
      ...stats,
      kind: unit.kind,
      unit: unit.unit,
      lossRatio:
        unit.kind === 'latency'
          ? lossRatio(archive, name, rawSamples(archive.raw_values[name]).length)
          : null,
      runner: meta?.RUNNER ?? null,
    };
  }
  return assembleSummary(
    {
      test: md.NAME,
      title: md.TITLE ?? null,
      lengthSeconds: md.LENGTH,
      totalLengthSeconds: md.TOTAL_LENGTH,
      stepSeconds: md.STEP_SIZE,
      startTime: toIsoUtc(md.T0 ?? md.TIME),
      hosts: md.HOSTS.length > 0 ? md.HOSTS : md.HOST ? [md.HOST] : [],
      flentVersion: md.FLENT_VERSION,
      unknownUnitSeries,
    },
    series,
    oneWayOf(archive, series),
  );
}

/** The parts of a summary that are not derived from its series. */
export type SummaryHeader = Pick<
  FlentSummary,
  | 'test'
  | 'title'
  | 'lengthSeconds'
  | 'totalLengthSeconds'
  | 'stepSeconds'
  | 'startTime'
  | 'hosts'
  | 'flentVersion'
  | 'unknownUnitSeries'
>;

/**
 * A summary from its header and series: the latency and throughput views are
 * derived, never stored twice. oneWay, when given, comes last (udp_latency).
 */
export function assembleSummary(
  header: SummaryHeader,
  series: Record<string, SeriesStats>,
  oneWay?: Record<string, OneWaySeries>,
): FlentSummary {
  return {
    connectivity: 1,
    ...header,
    series,
    latency: Object.fromEntries(Object.entries(series).filter(([, s]) => s.kind === 'latency')),
    throughput: { upload: direction(series, 'upload'), download: direction(series, 'download') },
    emptySeries: Object.entries(series)
      .filter(([, s]) => s.count === 0)
      .map(([name]) => name),
    ...(oneWay === undefined ? {} : { oneWay }),
  };
}

/** Kind and unit of a series from its flent name (for summaries rebuilt from compact form). */
export function seriesKindOf(name: string): { kind: SeriesKind; unit: SeriesUnit } | undefined {
  const unitName = unitOf(name, undefined);
  const unit = unitName === undefined ? undefined : UNITS[unitName];
  return unit === undefined ? undefined : { kind: unit.kind, unit: unit.unit };
}

function direction(series: Record<string, SeriesStats>, dir: Direction): DirectionThroughput {
  const prefix = `TCP ${dir}`;
  const single = series[prefix];
  const sum = series[`${prefix} sum`];
  const flows: Record<string, SeriesStats> = {};
  for (const [name, stats] of Object.entries(series)) {
    // rrul's per-flow series are "TCP upload BE" etc.; "avg" and "sum" are flent's aggregates.
    if (name.startsWith(`${prefix} `) && !name.endsWith(' sum') && !name.endsWith(' avg'))
      flows[name] = stats;
  }
  if (single) flows[prefix] = single;
  const total = sum ?? single ?? null;
  return { total, totalSeries: sum ? `${prefix} sum` : single ? prefix : null, flows };
}

/** Flent writes naive UTC times ("2026-11-26T07:43:42.889359Z" or without the Z). */
function toIsoUtc(time: string): string {
  const withZone = /[zZ]|[+-]\d\d:?\d\d$/.test(time) ? time : `${time}Z`;
  const date = new Date(withZone);
  return Number.isNaN(date.getTime()) ? time : date.toISOString();
}
