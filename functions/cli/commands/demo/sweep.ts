import { compactSeconds, renderTable } from '../../../../layers/core/format.ts';
import { waitFor } from '../../../../layers/core/process.ts';
import { querySweepPairs } from '../../../../layers/metrics/sweep.ts';
import { latestManifest } from '../../../../layers/pipeline/round.ts';
import { type SweepReport, sweep } from '../../../../layers/pipeline/sweep.ts';
import type { ObjectStore } from '../../../../layers/store/s3-store.ts';
import { sweepDepsFrom } from '../../../../layers/wiring/context.ts';
import { SCHEDULE } from './round.ts';

/**
 * The demo's sweep: all pairs at once while the cut pair's test runs, so its ends read as under load
 * and no throughput figure shares the host with the sweep's processes (a 3 s test on 2 cores feels them).
 */

/** One entry of summary.json's "sweep": the figures of one ordered pair as Prometheus has them. */
export interface DemoSweepPair {
  src: string;
  dst: string;
  connectivity: 0 | 1 | null;
  rttMedianSeconds: number | null;
  lossRatio: number | null;
  underLoad: boolean;
}

export interface DemoSweep {
  report: SweepReport;
  pairs: DemoSweepPair[];
}

/** Runs one sweep beside the round (once the cut pair's test started), then reads every pair back from Prometheus. */
export async function sweepBesideRound(
  env: NodeJS.ProcessEnv,
  store: ObjectStore,
  prometheusUrl: string,
  nodeCount: number,
  during: { src: string; dst: string },
): Promise<DemoSweep> {
  await waitFor(
    `the test of ${during.src} -> ${during.dst}`,
    async () => {
      const manifest = await latestManifest(store, SCHEDULE);
      // A round without that pair (or one that ended) gets its sweep anyway rather than none.
      if (manifest === undefined || manifest.closedAt !== null) return manifest !== undefined;
      const pair = manifest.pairs.find((p) => p.src === during.src && p.dst === during.dst);
      return pair === undefined || pair.startedAt !== null;
    },
    // The round may test that pair last: after every other test (each within its timeout).
    { timeoutMs: 3_600_000, intervalMs: 200 },
  );
  const report = await sweep(await sweepDepsFrom(env));
  const expected = nodeCount * (nodeCount - 1) - report.failedSources.length * (nodeCount - 1);
  await waitFor(
    'Prometheus to scrape every swept pair',
    async () => (await querySweepPairs(prometheusUrl)).length >= expected,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  const pairs = (await querySweepPairs(prometheusUrl)).map(
    ({ src, dst, connectivity, rttMedianSeconds, lossRatio, underLoad }) => ({
      src,
      dst,
      connectivity,
      rttMedianSeconds,
      lossRatio,
      underLoad,
    }),
  );
  return { report, pairs };
}

/** The sweep matrix for the terminal: src rows, dst columns, median RTT; x unreachable, * under load. */
export function sweepMatrix(sweep: DemoSweep): string {
  const nodes = [...new Set(sweep.pairs.flatMap((p) => [p.src, p.dst]))].sort();
  const cell = (src: string, dst: string): string => {
    if (src === dst) return '';
    const pair = sweep.pairs.find((p) => p.src === src && p.dst === dst);
    if (pair === undefined) return '?';
    if (pair.connectivity !== 1) return 'x';
    const rtt = pair.rttMedianSeconds === null ? '?' : compactSeconds(pair.rttMedianSeconds);
    return `${rtt}${pair.underLoad ? '*' : ''}`;
  };
  const { report } = sweep;
  return [
    `sweep matrix: ${report.pairs} pairs at once in ${report.durationSeconds.toFixed(1)} s beside the round (median RTT; x unreachable, * an end was in a test)`,
    renderTable(
      ['src \\ dst', ...nodes],
      nodes.map((src) => [src, ...nodes.map((dst) => cell(src, dst))]),
    ),
  ].join('\n');
}
