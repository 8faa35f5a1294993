import type { SoloCheck } from '../domain/round.ts';
import { parseBaseUrl } from './http.ts';
import { encodeLabels } from './names.ts';
import { type GaugeDef, pushGroup, type Sample } from './push.ts';

/**
 * A disjoint round's solo check as a metric: one group per schedule under
 * its own job, replaced by each round's check, so the gauge holds the
 * latest pair checked and Prometheus' history holds them all.
 */
export const SOLO_JOB = 'netmon_solo';

export const PARALLEL_SOLO_RATIO: GaugeDef = {
  name: 'netmon_parallel_solo_ratio',
  help: 'A headline figure of the pair measured in its disjoint slot divided by the same figure measured alone after the round (figure: throughput_src_to_dst, throughput_dst_to_src, latency). Throughput under 1 or latency over 1: the parallel tests interfered.',
  labelNames: ['src', 'dst', 'test', 'figure'],
};

export function soloSamples(check: SoloCheck, test: string): Array<Sample<GaugeDef>> {
  return check.ratios.map((r) => ({
    def: PARALLEL_SOLO_RATIO,
    labels: { src: check.src, dst: check.dst, test, figure: r.figure },
    value: r.ratio,
  }));
}

/** Replaces the schedule's solo group with this check's ratios (none: the group empties). */
export async function pushSolo(
  gatewayUrl: string,
  schedule: string,
  test: string,
  check: SoloCheck,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  parseBaseUrl(gatewayUrl);
  await pushGroup(
    gatewayUrl,
    SOLO_JOB,
    encodeLabels({ schedule }),
    soloSamples(check, test),
    options.timeoutMs,
  );
}
