#!/usr/bin/env node
import { markReady, parseInvocation, runAsCommand } from '../../layers/core/handler.ts';
import type { PlanOutcome } from '../../layers/domain/round.ts';
import { plan } from '../../layers/pipeline/plan.ts';
import { planDepsFrom, schedulesFrom } from '../../layers/wiring/context.ts';

/** plan (CronJob every minute / scheduled function): open due rounds and queue their pairs. */
export async function handler(event: unknown): Promise<PlanOutcome[]> {
  const invocation = parseInvocation(event);
  const [deps, schedules] = await Promise.all([planDepsFrom(), schedulesFrom()]);
  markReady('plan');
  return plan({ ...deps, now: () => invocation.time }, await schedules.list());
}

if (import.meta.main) await runAsCommand('plan', handler);
