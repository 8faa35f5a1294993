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
