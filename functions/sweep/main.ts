#!/usr/bin/env node
import { markReady, runAsCommand } from '../../layers/core/handler.ts';
import { type SweepReport, sweep } from '../../layers/pipeline/sweep.ts';
import { sweepDepsFrom } from '../../layers/wiring/context.ts';

/** sweep (CronJob every minute / scheduled function): every Ready node probes every other at once. */
export async function handler(_event: unknown): Promise<SweepReport> {
  const deps = await sweepDepsFrom();
  markReady('sweep');
  return sweep(deps);
}

// No top-level await: a module with one cannot be require()d, and `osls invoke local` require()s the bundle.
if (import.meta.main) void runAsCommand('sweep', handler);
