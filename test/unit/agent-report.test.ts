import { describe, expect, it } from 'vitest';
import type { FlentOutcome } from '../../layers/domain/outcome.ts';
import { readArchiveFile } from '../../layers/flent/archive.ts';
import {
  decodeReport,
  encodeReport,
  ReportError,
  TERMINATION_MESSAGE_LIMIT,
} from '../../layers/flent/compact.ts';
import { summarizeArchive } from '../../layers/flent/summary.ts';

const fixture = (name: string): string => new URL(`../fixtures/flent/${name}`, import.meta.url).pathname;

async function success(name: string): Promise<FlentOutcome> {
  const summary = summarizeArchive(await readArchiveFile(fixture(name)));
  return { ok: true, summary, archivePath: '/tmp/x.flent.gz', durationSeconds: 7.123456789 };
}

describe("the agent's report (termination message)", () => {
  it.each(['tcp_upload.flent.gz', 'tcp_download.flent.gz', 'ping-lossy.flent.gz', 'rrul.flent.gz'])(
    'carries %s under 4096 bytes and back, figures to 6 significant digits',
    async (name) => {
      const outcome = await success(name);
      const text = encodeReport(outcome, '198.18.0.11', 'archives/s/k.flent.gz');
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(TERMINATION_MESSAGE_LIMIT);
      const decoded = decodeReport(text);
      expect(decoded.archiveKey).toBe('archives/s/k.flent.gz');
      if (!decoded.outcome.ok || !outcome.ok) throw new Error('expected success');
      const before = outcome.summary;
      const after = decoded.outcome.summary;
      expect(after.test).toBe(before.test);
      expect(after.startTime).toBe(before.startTime);
      for (const dir of ['upload', 'download'] as const) {
        expect(after.throughput[dir].totalSeries).toBe(before.throughput[dir].totalSeries);
        const [b, a] = [before.throughput[dir].total?.mean, after.throughput[dir].total?.mean];
        if (b === undefined || b === null) expect(a ?? null).toBe(b ?? null);
        else expect(Math.abs((a ?? 0) - b) / b).toBeLessThan(1e-5);
      }
      for (const [series, stats] of Object.entries(after.latency)) {
        const original = before.latency[series];
        expect(stats.count).toBe(original?.count);
        expect(stats.lossRatio ?? 0).toBeCloseTo(original?.lossRatio ?? 0, 5);
        expect(Math.abs((stats.median ?? 0) - (original?.median ?? 0))).toBeLessThanOrEqual(
          Math.abs(original?.median ?? 0) * 1e-5,
        );
      }
    },
  );

  it('fits a failure with a huge stderr and message', () => {
    const outcome: FlentOutcome = {
      ok: false,
      failure: {
        connectivity: 0,
        reason: 'tool-error',
        message: 'm'.repeat(10_000),
        test: 'rrul',
        host: 'h',
        exitCode: 1,
        signal: null,
        stderrTail: 'e'.repeat(5000),
        startTime: '2026-11-26T08:00:00.000Z',
        durationSeconds: 3,
      },
    };
    const text = encodeReport(outcome, 'h', null);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(TERMINATION_MESSAGE_LIMIT);
    const decoded = decodeReport(text);
    expect(decoded.outcome.ok).toBe(false);
    if (!decoded.outcome.ok) expect(decoded.outcome.failure.reason).toBe('tool-error');
  });

  it('refuses what is not a report', () => {
    expect(() => decodeReport('Error: exec format error')).toThrow(ReportError);
    expect(() => decodeReport('{"v":1,"ok":true}')).toThrow(/malformed at test/);
  });
});
