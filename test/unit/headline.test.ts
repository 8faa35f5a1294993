import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { FlentSummary } from '../../layers/domain/figures.ts';
import { HEADLINE_PROBES, type Headline, headlineOf, headlineProbe } from '../../layers/domain/headline.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';

/** The cases the Python package checks too (analysis/tests/test_headline.py): one choice in both languages. */
const { cases } = JSON.parse(
  readFileSync(new URL('../fixtures/headline/cases.json', import.meta.url), 'utf8'),
) as { cases: Array<{ name: string; summary: FlentSummary | null; headline: Headline }> };

function archive(name: string): FlentSummary {
  const path = new URL(`../fixtures/flent/${name}.flent.gz`, import.meta.url).pathname;
  return summarizeArchive(parseArchive(readFileSync(path), path));
}

describe('headline figures of a pair', () => {
  for (const c of cases) {
    it(c.name, () => {
      expect(headlineOf(c.summary)).toEqual(c.headline);
    });
  }

  it('prefers ICMP, then UDP, then UDP BE, else the alphabetically first probe', () => {
    expect(HEADLINE_PROBES[0]).toBe('icmp');
    expect(headlineProbe(['udp_be', 'icmp'])).toBe('icmp');
    expect(headlineProbe(['udp_ef', 'udp_be', 'udp'])).toBe('udp');
    expect(headlineProbe(['udp_ef', 'udp_bk'])).toBe('udp_bk');
    expect(headlineProbe([])).toBeUndefined();
  });

  it('real archives: rrul leads with its ICMP median and both directions; tcp_download flows dst -> src', () => {
    const rrul = archive('rrul');
    const headline = headlineOf(rrul);
    expect(headline.probe).toBe('icmp');
    expect(headline.latencySeconds).toBe(rrul.series['Ping (ms) ICMP']?.median);
    expect(headline.throughput.src_to_dst).toBe(rrul.throughput.upload.total?.mean);
    expect(headline.throughput.dst_to_src).toBe(rrul.throughput.download.total?.mean);
    const download = headlineOf(archive('tcp_download'));
    expect(download.throughput.src_to_dst).toBeNull();
    expect(download.throughput.dst_to_src).toBeGreaterThan(0);
  });

  it('a real udp_latency archive leads with its irtt probe (udp): median round trip, loss of both legs', () => {
    const udp = archive('udp_latency');
    expect(headlineOf(udp)).toEqual({
      probe: 'udp',
      latencySeconds: udp.series['Ping (ms) UDP']?.median,
      lossRatio: udp.oneWay?.['Ping (ms) UDP']?.lossRatio,
      throughput: { src_to_dst: null, dst_to_src: null },
    });
    expect(headlineOf(udp).lossRatio).toBeGreaterThan(0);
  });
});
