import { errorLine, NetmonError } from './errors.ts';
import { log } from './log.ts';

/**
 * What a function's handler is called with: a cloud scheduler's event
 * (EventBridge "Scheduled Event"), a Kubernetes CronJob's plain start, or a
 * CLI call. Handlers only need to know when they were triggered.
 */
export interface Invocation {
  source: 'schedule' | 'cli';
  time: Date;
}

export function parseInvocation(event: unknown): Invocation {
  if (typeof event === 'object' && event !== null && 'detail-type' in event) {
    const time = (event as { time?: unknown }).time;
    const parsed = typeof time === 'string' ? new Date(time) : new Date();
    return { source: 'schedule', time: Number.isNaN(parsed.getTime()) ? new Date() : parsed };
  }
  return { source: 'cli', time: new Date() };
}

/**
 * The cold-start mark of `npm run bench`: a handler calls it once its
 * settings are read and its clients built, before any I/O. With
 * NETMON_EXIT_WHEN_READY=1 it prints `ready <name> <ms since process start>`
 * on stdout and ends the process; otherwise it does nothing.
 */
export function markReady(name: string): void {
  // Read here, not through loadConfig: a bench switch, not a setting of the functions.
  if (process.env.NETMON_EXIT_WHEN_READY !== '1') return;
  process.stdout.write(`ready ${name} ${performance.now().toFixed(1)}\n`);
  process.exit(0);
}

/** Runs a handler as a command: its result as JSON on stdout, a one-line error and exit 1 (2 for bad input). */
export async function runAsCommand(
  name: string,
  handler: (event: unknown) => Promise<unknown>,
): Promise<void> {
  try {
    const result = await handler({});
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } catch (err) {
    log.error({ err: errorLine(err), fn: name }, 'failed');
    process.stderr.write(`${name}: ${errorLine(err)}\n`);
    process.exitCode = err instanceof NetmonError && err.name === 'ConfigError' ? 2 : 1;
  }
}
