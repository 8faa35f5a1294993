import { describe, expect, it } from 'vitest';
import { type FlentSummary, latencyProbes, probeName, throughputFlows } from '../../layers/domain/figures.ts';
import { readArchiveFile } from '../../layers/flent/archive.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';
import {
  ALL_METRICS,
  base64Value,
  encodeGroupings,
  GROUPING_LABELS,
  groupingPath,
  needsBase64,
} from '../../layers/metrics/names.ts';

const fixture = (name: string): string => new URL(`../fixtures/flent/${name}`, import.meta.url).pathname;
const summaryOf = async (name: string): Promise<FlentSummary> =>
  summarizeArchive(await readArchiveFile(fixture(`${name}.flent.gz`)));

describe('probe labels from flent series names', () => {
  it.each([
    ['Ping (ms) ICMP', 'icmp'],
    ['Ping (ms) UDP', 'udp'],
    ['Ping (ms) UDP BE', 'udp_be'],
    ['Ping (ms) UDP BK', 'udp_bk'],
    ['Ping (ms) UDP EF', 'udp_ef'],
  ])('%s -> %s', (series, probe) => {
    expect(probeName(series)).toBe(probe);
  });

  it("skips flent's computed average", () => {
    expect(probeName('Ping (ms) avg')).toBeNull();
  });

  it('keeps label values tidy for unexpected names', () => {
    expect(probeName('Ping (ms) UDP  EF/2')).toBe('udp_ef_2');
  });

  it("names every probe of a real rrul archive, without flent's average", async () => {
    const summary = await summaryOf('rrul');
    expect(Object.keys(summary.latency)).toContain('Ping (ms) avg');
    expect(latencyProbes(summary).map((p) => p.probe)).toEqual(['icmp', 'udp_be', 'udp_bk', 'udp_ef']);
  });

  it('names both probes of a real ping archive', async () => {
    expect(latencyProbes(await summaryOf('ping-lossy')).map((p) => p.probe)).toEqual(['icmp', 'udp']);
  });
});

describe('direction of data flow', () => {
  it('tcp_upload flows src -> dst', async () => {
    const summary = await summaryOf('tcp_upload');
    const flows = throughputFlows(summary);
    expect(flows.map((f) => f.direction)).toEqual(['src_to_dst']);
    expect(flows[0]?.stats).toBe(summary.throughput.upload.total);
  });

  it('tcp_download flows dst -> src', async () => {
    const summary = await summaryOf('tcp_download');
    const flows = throughputFlows(summary);
    expect(flows.map((f) => f.direction)).toEqual(['dst_to_src']);
    expect(flows[0]?.stats).toBe(summary.throughput.download.total);
  });

  it('rrul flows both ways, each as the sum of its flows', async () => {
    const summary = await summaryOf('rrul');
    const flows = throughputFlows(summary);
    expect(flows.map((f) => f.direction)).toEqual(['src_to_dst', 'dst_to_src']);
    expect(summary.throughput.upload.totalSeries).toBe('TCP upload sum');
    expect(flows[0]?.stats).toBe(summary.throughput.upload.total);
    expect(flows[1]?.stats).toBe(summary.throughput.download.total);
  });

  it('a ping test has no throughput', async () => {
    expect(throughputFlows(await summaryOf('ping-lossy'))).toEqual([]);
  });
});

describe('grouping-key encoding', () => {
  const key = { schedule: 'default', src: 'node-1.eu-west-1.compute.internal', dst: 'node-2' };

  it('passes DNS names through as plain path segments', () => {
    expect(encodeGroupings(key)).toEqual(key);
    expect(groupingPath(key)).toBe(
      '/metrics/job/netmon/schedule/default/src/node-1.eu-west-1.compute.internal/dst/node-2',
    );
  });

  it("uses the gateway's base64 form for '/', empty values and dot segments", () => {
    expect(needsBase64('rack/1')).toBe(true);
    expect(needsBase64('')).toBe(true);
    expect(needsBase64('..')).toBe(true);
    expect(needsBase64('.')).toBe(true);
    expect(needsBase64('node.1')).toBe(false);
    expect(encodeGroupings({ schedule: '', src: 'a/b', dst: '..' })).toEqual({
      'schedule@base64': '=',
      'src@base64': 'YS9i',
      'dst@base64': 'Li4',
    });
    expect(groupingPath({ schedule: '', src: 'a/b', dst: 'n' })).toBe(
      '/metrics/job/netmon/schedule%40base64/%3D/src%40base64/YS9i/dst/n',
    );
  });

  it('base64 values use the URL-safe alphabet and decode back', () => {
    const value = 'zone/ü?~>>'; // '>' and '?' give '+' and '/' in standard base64
    const encoded = base64Value(value);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(encoded, 'base64url').toString('utf8')).toBe(value);
  });

  it('percent-encodes characters that are not safe in a path segment', () => {
    expect(groupingPath({ schedule: 'nightly run', src: 'nöde%1', dst: 'a?b#c' })).toBe(
      '/metrics/job/netmon/schedule/nightly%20run/src/n%C3%B6de%251/dst/a%3Fb%23c',
    );
  });
});

describe('metric definitions', () => {
  it('are unique, snake_case, prefixed, with help texts and the test label', () => {
    const names = ALL_METRICS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const def of ALL_METRICS) {
      expect(def.name).toMatch(/^netmon_[a-z0-9_]+$/);
      expect(def.help.length).toBeGreaterThan(20);
      expect(def.labelNames).toContain('test');
    }
  });

  it('carry the concurrency label (how the round ran), never as a grouping label', () => {
    for (const def of ALL_METRICS)
      expect(def.labelNames.slice(0, 2), def.name).toEqual(['test', 'concurrency']);
    // A grouping label would give each mode its own group: the old mode's figures would never be replaced.
    expect(GROUPING_LABELS).not.toContain('concurrency');
  });

  it('carry throughput in bytes per second (promtool rejects bits)', () => {
    const throughput = ALL_METRICS.filter((m) => m.target.kind === 'throughput').map((m) => m.name);
    expect(throughput).toEqual([
      'netmon_throughput_mean_bytes_per_second',
      'netmon_throughput_median_bytes_per_second',
      'netmon_throughput_p99_bytes_per_second',
    ]);
  });
});
