#!/usr/bin/env node
import { markReady, parseInvocation, runAsCommand } from '../../layers/core/handler.ts';
import type { PlanOutcome } from '../../layers/domain/round.ts';
import { plan, planFailures } from '../../layers/pipeline/plan.ts';
import { planDepsFrom, schedulesFrom } from '../../layers/wiring/context.ts';

/** plan (CronJob every minute / scheduled function): open due rounds and queue their pairs. */
export async function handler(event: unknown): Promise<PlanOutcome[]> {
  const invocation = parseInvocation(event);
  const [deps, schedules] = await Promise.all([planDepsFrom(), schedulesFrom()]);
  markReady('plan');
  const outcomes = await plan({ ...deps, now: () => invocation.time }, await schedules.list());
  // The others are planned; the run still fails, so the CronJob (or the function's errors) shows it.
  const failures = planFailures(outcomes);
  if (failures !== undefined) throw failures;
  return outcomes;
}

// No top-level await: a module with one cannot be require()d, and `osls invoke local` require()s the bundle.
if (import.meta.main) void runAsCommand('plan', handler);
