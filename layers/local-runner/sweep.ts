import { errorLine } from '../core/errors.ts';
import { runProcess } from '../core/process.ts';
import type { RunnerNode } from '../domain/runner.ts';
import type { Sweeper, SweepSource } from '../domain/sweep.ts';
import { SWEEP_RUN_TIMEOUT_MS, sweepArgv, sweepResult } from '../flent/fping.ts';
import { prefixFor } from './runner.ts';

/** The local sweep: one fping per node, in its network namespace, all at once. */
export class LocalSweeper implements Sweeper {
  private readonly fping: string;

  constructor(options: { fpingBinary?: string } = {}) {
    this.fping = options.fpingBinary ?? 'fping';
  }

  sweep(nodes: readonly RunnerNode[]): Promise<SweepSource[]> {
    return Promise.all(
      nodes.map(async (node): Promise<SweepSource> => {
        const peers = nodes.filter((peer) => peer.name !== node.name);
        const argv = [
          ...prefixFor(node),
          ...sweepArgv(
            peers.map((peer) => peer.address),
            this.fping,
          ),
        ];
        try {
          const result = sweepResult(await runProcess(argv, { timeoutMs: SWEEP_RUN_TIMEOUT_MS }), peers);
          return typeof result === 'string'
            ? { src: node.name, ok: false, message: result }
            : { src: node.name, ok: true, peers: result };
        } catch (err) {
          return { src: node.name, ok: false, message: `cannot start fping: ${errorLine(err)}` };
        }
      }),
    );
  }
}
