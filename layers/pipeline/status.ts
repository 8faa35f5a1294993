import { errorLine } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { RoundManifest, RoundObserver } from '../domain/round.ts';
import { pushRoundProgress } from '../metrics/rounds.ts';

/** Several observers as one, told in order; each reports its own errors. */
export function allObservers(observers: readonly RoundObserver[]): RoundObserver {
  return {
    planned: async (outcome, manifest) => {
      for (const observer of observers) await observer.planned(outcome, manifest);
    },
    progressed: async (manifest) => {
      for (const observer of observers) await observer.progressed(manifest);
    },
  };
}

/** Round progress as Pushgateway metrics (netmon_round_*), for the Grafana dashboard. */
export function roundMetricsObserver(gatewayUrl: string): RoundObserver {
  const push = async (manifest: RoundManifest): Promise<void> => {
    await pushRoundProgress(gatewayUrl, manifest).catch((err) =>
      log.warn({ schedule: manifest.schedule, err: errorLine(err) }, 'round progress not pushed'),
    );
  };
  return {
    planned: async (_outcome, manifest) => {
      if (manifest !== undefined) await push(manifest);
    },
    progressed: push,
  };
}
