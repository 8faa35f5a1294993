import { fileURLToPath } from 'node:url';
import { type ManagedProcess, startProcess } from '../../layers/core/process.ts';

const PROBE = fileURLToPath(new URL('../../dist/probe.js', import.meta.url));
const PLAN = fileURLToPath(new URL('../../dist/plan.js', import.meta.url));
const RENDER = fileURLToPath(new URL('../../dist/render.js', import.meta.url));
const SWEEP = fileURLToPath(new URL('../../dist/sweep.js', import.meta.url));

/** A probe as its own process (the bundle the CronJob runs), so tests can run two or kill one. */
export function startProbe(env: NodeJS.ProcessEnv): ManagedProcess {
  return startProcess([process.execPath, PROBE], { env, timeoutMs: 300_000 });
}

export function startPlan(env: NodeJS.ProcessEnv): ManagedProcess {
  return startProcess([process.execPath, PLAN], { env, timeoutMs: 60_000 });
}

export function startRender(env: NodeJS.ProcessEnv): ManagedProcess {
  return startProcess([process.execPath, RENDER], { env, timeoutMs: 60_000 });
}

export function startSweep(env: NodeJS.ProcessEnv): ManagedProcess {
  return startProcess([process.execPath, SWEEP], { env, timeoutMs: 60_000 });
}
