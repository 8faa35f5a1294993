import { log } from './log.ts';

/**
 * Cleanup on interrupt. Whatever starts a process or builds a namespace
 * registers how to undo it; on SIGINT/SIGTERM the undo steps run newest
 * first, then the process exits with the conventional 128+signal code.
 */
type Cleanup = () => Promise<void>;

const cleanups = new Map<number, { label: string; run: Cleanup }>();
let nextId = 0;
let installed = false;
let shuttingDown = false;
const interrupted = new AbortController();

/** Aborted when an interrupt's cleanup starts: waits that would hold it up (retries) stop at once. */
export const shutdownSignal: AbortSignal = interrupted.signal;

export function onShutdown(label: string, run: Cleanup): () => void {
  install();
  const id = nextId++;
  cleanups.set(id, { label, run });
  return () => {
    cleanups.delete(id);
  };
}

export async function runShutdownCleanups(): Promise<void> {
  const entries = [...cleanups.entries()].reverse();
  cleanups.clear();
  for (const [, { label, run }] of entries) {
    try {
      await run();
    } catch (err) {
      log.warn({ err, label }, 'cleanup failed');
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(signal, () => {
      if (shuttingDown) return;
      shuttingDown = true;
      interrupted.abort(new Error(`interrupted by ${signal}`));
      log.warn({ signal }, 'interrupted: cleaning up');
      void runShutdownCleanups().finally(() => process.exit(code));
    });
  }
}
