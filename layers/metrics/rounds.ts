import { log } from '../core/log.ts';
import { parseBaseUrl } from './http.ts';
import { encodeLabels } from './names.ts';
import { type GaugeDef, pushGroup, type Sample } from './push.ts';

/**
 * Round progress for dashboards: one Pushgateway group per schedule under its
 * own job, so the per-pair readers (job "netmon") never see these series.
 * Each push replaces the group: the figures are always the newest round's.
 */
export const ROUNDS_JOB = 'netmon_rounds';

export const ROUND_STATES = ['queued', 'done', 'failed', 'skipped'] as const;

export const ROUND_METRICS = {
  pairs: {
    name: 'netmon_round_pairs',
    help: 'Pairs of the newest round of the schedule by state (queued, done, failed, skipped).',
    labelNames: ['round', 'state'],
  },
  opened: {
    name: 'netmon_round_opened_timestamp_seconds',
    help: 'When the newest round of the schedule opened, in seconds since the Unix epoch.',
    labelNames: ['round'],
  },
  closed: {
    name: 'netmon_round_closed_timestamp_seconds',
    help: 'When the newest round of the schedule closed (absent while it is open), in seconds since the Unix epoch.',
    labelNames: ['round'],
  },
} as const satisfies Record<string, GaugeDef>;

/** What a round's progress push needs: the schedule, the round and its pair states. */
export interface RoundProgress {
  schedule: string;
  round: string;
  openedAt: string;
  closedAt: string | null;
  pairs: ReadonlyArray<{ state: (typeof ROUND_STATES)[number] }>;
}

export function roundSamples(progress: RoundProgress): Array<Sample<GaugeDef>> {
  const samples: Array<Sample<GaugeDef>> = ROUND_STATES.map((state) => ({
    def: ROUND_METRICS.pairs,
    labels: { round: progress.round, state },
    value: progress.pairs.filter((p) => p.state === state).length,
  }));
  samples.push({
    def: ROUND_METRICS.opened,
    labels: { round: progress.round },
    value: Date.parse(progress.openedAt) / 1000,
  });
  if (progress.closedAt !== null)
    samples.push({
      def: ROUND_METRICS.closed,
      labels: { round: progress.round },
      value: Date.parse(progress.closedAt) / 1000,
    });
  return samples;
}

export async function pushRoundProgress(
  gatewayUrl: string,
  progress: RoundProgress,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  parseBaseUrl(gatewayUrl);
  await pushGroup(
    gatewayUrl,
    ROUNDS_JOB,
    encodeLabels({ schedule: progress.schedule }),
    roundSamples(progress),
    options.timeoutMs,
  );
  log.debug({ schedule: progress.schedule, round: progress.round }, 'pushed round progress');
}
