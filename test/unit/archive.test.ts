import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ArchiveError } from '../../layers/core/errors.ts';
import { parseArchive, readArchiveFile } from '../../layers/flent/archive.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';

const fixture = (name: string): string => new URL(`../fixtures/flent/${name}`, import.meta.url).pathname;

describe('reading untrusted archives', () => {
  it('reads a real archive', async () => {
    const archive = await readArchiveFile(fixture('tcp_upload.flent.gz'));
    expect(archive.metadata.NAME).toBe('tcp_upload');
  });

  it('refuses a truncated gzip', async () => {
    const bytes = await readFile(fixture('rrul.flent.gz'));
    expect(() => parseArchive(bytes.subarray(0, bytes.length / 2), 'cut.flent.gz')).toThrow(
      /cut\.flent\.gz: truncated gzip data/,
    );
  });

  it('refuses bytes that are not gzip', () => {
    expect(() => parseArchive(Buffer.from('hello, not gzip at all'), 'x.flent.gz')).toThrow(
      /x\.flent\.gz: not valid gzip data/,
    );
  });

  it('refuses corrupt gzip data', async () => {
    const bytes = Buffer.from(await readFile(fixture('rrul.flent.gz')));
    for (let i = 100; i < 200; i++) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
    expect(() => parseArchive(bytes, 'bad.flent.gz')).toThrow(ArchiveError);
  });

  it('refuses invalid JSON inside the gzip', () => {
    expect(() => parseArchive(gzipSync('{"metadata": {'), 'j.flent.gz')).toThrow(
      /not valid JSON inside the gzip/,
    );
  });

  it('refuses JSON that is not a flent archive, naming the missing key', async () => {
    const archive = JSON.parse(
      (await import('node:zlib')).gunzipSync(await readFile(fixture('ping-lossy.flent.gz'))).toString(),
    );
    delete archive.metadata.STEP_SIZE;
    expect(() => parseArchive(gzipSync(JSON.stringify(archive)), 'k.flent.gz')).toThrow(
      /k\.flent\.gz: not a Flent archive: metadata\.STEP_SIZE/,
    );
    expect(() => parseArchive(gzipSync('[1, 2, 3]'), 'a.flent.gz')).toThrow(/not a Flent archive/);
  });

  it('refuses an archive that decompresses beyond the limit, without inflating it whole', () => {
    // 64 MiB of zeros compress to about 64 KiB: a small file that would be a big allocation.
    const bomb = gzipSync(Buffer.alloc(64 << 20));
    const before = process.memoryUsage().arrayBuffers;
    expect(() =>
      parseArchive(bomb, 'bomb.flent.gz', { maxCompressedBytes: 1 << 20, maxDecompressedBytes: 1 << 20 }),
    ).toThrow(/bomb\.flent\.gz: decompresses to more than 1048576 bytes/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 << 20);
  });

  it('refuses a file over the compressed limit before reading it', async () => {
    await expect(
      readArchiveFile(fixture('rrul.flent.gz'), { maxCompressedBytes: 1000, maxDecompressedBytes: 1 << 20 }),
    ).rejects.toThrow(/over the limit of 1000 compressed bytes/);
  });
});

describe('summaries in base units', () => {
  it('summarizes tcp_upload: upload throughput in bit/s, ICMP latency in seconds', async () => {
    const summary = summarizeArchive(await readArchiveFile(fixture('tcp_upload.flent.gz')));
    expect(summary.connectivity).toBe(1);
    expect(summary.test).toBe('tcp_upload');
    expect(summary.hosts).toEqual(['198.18.0.2']);
    expect(summary.flentVersion).toBe('2.1.1');
    expect(summary.startTime).toBe('2026-11-26T07:43:42.991Z');
    const upload = summary.throughput.upload.total;
    // netperf's own mean, 9.61 Mbit/s, as recorded in the archive.
    expect(upload?.mean).toBeCloseTo(9.61e6, 0);
    expect(upload?.unit).toBe('bit/s');
    expect(summary.throughput.download.total).toBeNull();
    const icmp = summary.latency['Ping (ms) ICMP'];
    expect(icmp?.unit).toBe('s');
    expect(icmp?.min).toBeCloseTo(0.059e-3, 9);
    expect(icmp?.lossRatio).toBe(0);
  });

  it('summarizes rrul per flow and per direction sum', async () => {
    const summary = summarizeArchive(await readArchiveFile(fixture('rrul.flent.gz')));
    expect(Object.keys(summary.throughput.upload.flows).sort()).toEqual([
      'TCP upload BE',
      'TCP upload BK',
      'TCP upload CS5',
      'TCP upload EF',
    ]);
    expect(summary.throughput.upload.totalSeries).toBe('TCP upload sum');
    expect(summary.throughput.download.totalSeries).toBe('TCP download sum');
    expect(summary.throughput.download.total?.mean).toBeCloseTo(17.75e6, 0);
    expect(Object.keys(summary.latency)).toContain('Ping (ms) UDP EF');
  });

  it('counts lost probes: fping leaves gaps, irtt marks them lost', async () => {
    const summary = summarizeArchive(await readArchiveFile(fixture('ping-lossy.flent.gz')));
    // 10 of 15 ICMP probes came back; irtt reports 5 of 15 lost.
    expect(summary.latency['Ping (ms) ICMP']?.count).toBe(10);
    expect(summary.latency['Ping (ms) ICMP']?.lossRatio).toBeCloseTo(1 / 3, 9);
    expect(summary.latency['Ping (ms) UDP']?.lossRatio).toBeCloseTo(1 / 3, 9);
    expect(summary.latency['Ping (ms) UDP']?.count).toBe(10);
  });

  it('handles null samples and series without data', async () => {
    const archive = await readArchiveFile(fixture('tcp_upload.flent.gz'));
    archive.raw_values['TCP upload'] = [{ t: 1, val: null }];
    archive.results['TCP upload'] = archive.results['TCP upload']?.map(() => null) ?? [];
    archive.metadata.SERIES_META['TCP upload'] = { UNITS: 'Mbits/s' };
    const summary = summarizeArchive(archive);
    expect(summary.series['TCP upload']).toMatchObject({ count: 0, mean: null, median: null, p99: null });
    expect(summary.emptySeries).toEqual(['TCP upload']);
  });
});
