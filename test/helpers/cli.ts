import { fileURLToPath } from 'node:url';
import { type RunResult, runProcess } from '../../layers/core/process.ts';

/** The built CLI bundle, as users run it (global setup builds it before the suite). */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export function netmon(
  args: readonly string[],
  timeoutMs = 60_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunResult> {
  return runProcess([process.execPath, CLI, ...args], {
    timeoutMs,
    env: { ...env, LOG_LEVEL: 'warn' },
  });
}
