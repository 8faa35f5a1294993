#!/usr/bin/env node
import { markReady, runAsCommand } from '../../layers/core/handler.ts';
import { type ProbeReport, probe } from '../../layers/pipeline/probe.ts';
import { probeDepsFrom } from '../../layers/wiring/context.ts';

/** probe (CronJob, concurrencyPolicy Forbid / scheduled function): run queued tests until empty or out of time. */
export async function handler(_event: unknown): Promise<ProbeReport> {
  const deps = await probeDepsFrom();
  markReady('probe');
  return probe(deps);
}

// No top-level await: a module with one cannot be require()d, and `osls invoke local` require()s the bundle.
if (import.meta.main) void runAsCommand('probe', handler);
