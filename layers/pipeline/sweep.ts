import { errorLine } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { NodeSource } from '../domain/nodes.ts';
import type { Pair } from '../domain/pairs.ts';
import type { RoundManifest } from '../domain/round.ts';
import type { RunnerNode } from '../domain/runner.ts';
import { nodesUnderLoad, type Sweeper, type SweepPair, sweepPair } from '../domain/sweep.ts';

export interface SweepDeps {
  nodes: NodeSource;
  sweeper: Sweeper;
  /** The newest round manifest of each schedule: which nodes were in a bandwidth test. Read only. */
  rounds: () => Promise<RoundManifest[]>;
  /** Replaces src's sweep figures (its Pushgateway group). A failure is logged, never fatal. */
  publish: (src: string, pairs: readonly SweepPair[], endedAt: Date) => Promise<void>;
}

export interface SweepReport {
  startedAt: string;
  durationSeconds: number;
  nodes: number;
  pairs: number;
  /** Pairs none of whose probes got an answer. */
  unreachable: Pair[];
  /** Pairs measured while an end was in a bandwidth test. */
  underLoad: number;
  /** Sources that could not probe at all (their pod or process failed): no figures of theirs. */
  failedSources: Array<{ src: string; message: string }>;
}

/**
 * sweep: every Ready node probes every other Ready node at once, then each
 * source's pairs are published as one group. It never takes the test lock:
 * it runs beside the tests and marks the pairs whose ends were in one.
 */
export async function sweep(deps: SweepDeps): Promise<SweepReport> {
  const ready = (await deps.nodes.list()).filter((node) => node.ready);
  const nodes: RunnerNode[] = ready.map(({ name, address, netns }) =>
    netns === undefined ? { name, address } : { name, address, netns },
  );
  const started = new Date();
  const sources = nodes.length < 2 ? [] : await deps.sweeper.sweep(nodes);
  const ended = new Date();
  const loaded = await deps.rounds().then(
    (manifests) => nodesUnderLoad(manifests, started, ended),
    (err: unknown) => {
      // Without the manifests the figures still stand; they are just not marked.
      log.warn({ err: errorLine(err) }, 'round manifests not read: no pair marked under load');
      return new Set<string>();
    },
  );
  const report: SweepReport = {
    startedAt: started.toISOString(),
    durationSeconds: (ended.getTime() - started.getTime()) / 1000,
    nodes: nodes.length,
    pairs: 0,
    unreachable: [],
    underLoad: 0,
    failedSources: [],
  };
  await Promise.all(
    sources.map(async (source) => {
      if (!source.ok) {
        report.failedSources.push({ src: source.src, message: source.message });
        log.error({ src: source.src, err: source.message }, 'sweep source failed');
        return;
      }
      const pairs = source.peers.map((peer) =>
        sweepPair(source.src, peer, loaded.has(source.src) || loaded.has(peer.dst)),
      );
      report.pairs += pairs.length;
      report.underLoad += pairs.filter((p) => p.underLoad).length;
      report.unreachable.push(
        ...pairs.filter((p) => p.connectivity === 0).map(({ src, dst }) => ({ src, dst })),
      );
      await deps
        .publish(source.src, pairs, ended)
        .catch((err) => log.error({ src: source.src, err: errorLine(err) }, 'sweep metrics not pushed'));
    }),
  );
  report.unreachable.sort((a, b) => a.src.localeCompare(b.src) || a.dst.localeCompare(b.dst));
  log.info({ ...report, unreachable: report.unreachable.length }, 'sweep done');
  return report;
}
