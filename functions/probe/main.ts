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

if (import.meta.main) await runAsCommand('probe', handler);
