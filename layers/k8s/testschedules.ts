import { ApiException, type CustomObjectsApi } from '@kubernetes/client-node';
import { z } from 'zod';
import { errorLine, ValidationError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { validateSchedule } from '../core/schedules.ts';
import {
  countPairs,
  isFinished,
  type PlanOutcome,
  type RoundManifest,
  type RoundObserver,
} from '../domain/round.ts';
import type { Schedule, ScheduleSource } from '../domain/schedule.ts';
import { withApiRetry } from './retry.ts';

/**
 * TestSchedule resources (netmon.erigrid.eu/v1alpha1, k8s/netmon/crds) as
 * the pipeline's schedules, and their status as its round observer. Status
 * writes are read-modify-write with the resourceVersion read, retried on 409:
 * plan and probe may both write the same object.
 */

const GROUP = 'netmon.erigrid.eu';
const VERSION = 'v1alpha1';
const PLURAL = 'testschedules';
const CONFLICT_RETRIES = 5;

const roundSummary = z.object({
  id: z.string(),
  scheduledAt: z.string(),
  openedAt: z.string(),
  closedAt: z.string().optional(),
  total: z.number(),
  done: z.number(),
  failed: z.number(),
  skipped: z.number(),
});
export type RoundSummary = z.infer<typeof roundSummary>;

const condition = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
  observedGeneration: z.number().optional(),
});
export type Condition = z.infer<typeof condition>;

const statusSchema = z.object({
  observedGeneration: z.number().optional(),
  lastScheduleTime: z.string().optional(),
  round: z.string().optional(),
  progress: z.string().optional(),
  currentRound: roundSummary.optional(),
  lastCompletedRound: roundSummary.optional(),
  conditions: z.array(condition).optional(),
});
export type TestScheduleStatus = z.infer<typeof statusSchema>;

// Loose: a status write sends back the metadata it read, whole.
const objectSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    generation: z.number().optional(),
    resourceVersion: z.string().optional(),
  }),
  spec: z.record(z.string(), z.unknown()).default({}),
  status: statusSchema.optional(),
});
type TestScheduleObject = z.infer<typeof objectSchema>;

/** The pipeline's Schedule from a TestSchedule's spec; throws ValidationError naming the spec field. */
export function scheduleFromSpec(name: string, spec: Record<string, unknown>): Schedule {
  const candidate = {
    name,
    cron: spec.schedule,
    timeZone: spec.timeZone,
    test: spec.test,
    lengthSeconds: spec.length ?? 10,
    delaySeconds: spec.delay,
    suspend: spec.suspend,
    nodeSelector: spec.nodeSelector,
    hostNetwork: spec.hostNetwork,
    timeoutSeconds: spec.timeoutSeconds,
    concurrency: spec.concurrency,
  };
  try {
    return validateSchedule(candidate, 'spec');
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    // Name the resource's own field: spec.schedule, not the pipeline's cron; spec.length, not lengthSeconds.
    const field = err.field
      .replace(/^spec\.cron$/, 'spec.schedule')
      .replace(/^spec\.lengthSeconds$/, 'spec.length')
      .replace(/^spec\.delaySeconds$/, 'spec.delay');
    throw new ValidationError(field, err.value, err.expected);
  }
}

function summaryOf(manifest: RoundManifest): RoundSummary {
  const counts = countPairs(manifest.pairs);
  return {
    id: manifest.round,
    scheduledAt: manifest.scheduledAt,
    openedAt: manifest.openedAt,
    ...(manifest.closedAt === null ? {} : { closedAt: manifest.closedAt }),
    total: counts.total,
    done: counts.done,
    failed: counts.failed,
    skipped: counts.skipped,
  };
}

const finished = (r: RoundSummary): number => r.done + r.failed + r.skipped;

/**
 * The status after a round changed. Writes can arrive out of order (plan
 * read the manifest before a probe finished a pair), so a round's progress
 * never goes backwards and a closed round is never reopened.
 */
export function withRound(
  status: TestScheduleStatus,
  manifest: RoundManifest,
  now: Date,
): TestScheduleStatus {
  const round = summaryOf(manifest);
  const last = status.lastCompletedRound;
  if (last !== undefined && last.id >= round.id && round.closedAt === undefined) return status;
  const current = status.currentRound;
  if (current?.id === round.id && finished(current) > finished(round)) return status;
  if (current !== undefined && current.id > round.id) return status;
  const closed = round.closedAt !== undefined;
  const { currentRound: _previous, ...rest } = status;
  const next: TestScheduleStatus = {
    ...rest,
    lastScheduleTime: round.scheduledAt,
    round: round.id,
    progress: `${finished(round)}/${round.total}`,
    ...(closed ? { lastCompletedRound: round } : { currentRound: round }),
  };
  const progressing: Omit<Condition, 'lastTransitionTime'> = closed
    ? {
        type: 'Progressing',
        status: 'False',
        reason: 'RoundComplete',
        message: `round ${round.id} closed: ${round.done} done, ${round.failed} failed, ${round.skipped} skipped of ${round.total}`,
      }
    : {
        type: 'Progressing',
        status: 'True',
        reason: 'RoundOpen',
        message: `round ${round.id}: ${finished(round)} of ${round.total} pairs finished`,
      };
  return { ...next, conditions: setCondition(status.conditions, progressing, now) };
}

/** The Ready condition for what plan decided. */
export function readyCondition(outcome: PlanOutcome): Omit<Condition, 'lastTransitionTime'> {
  switch (outcome.action) {
    case 'suspended':
      return { type: 'Ready', status: 'False', reason: 'Suspended', message: 'spec.suspend is true' };
    case 'too-few-nodes':
      return { type: 'Ready', status: 'False', reason: 'NoMatchingNodes', message: outcome.message };
    case 'failed':
      return { type: 'Ready', status: 'False', reason: 'PlanFailed', message: outcome.message };
    case 'deadline':
      return {
        type: 'Ready',
        status: 'True',
        reason: 'RoundDeadline',
        message: `round ${outcome.round} closed at its deadline with ${outcome.skipped} pairs untested (skipped: round-deadline)`,
      };
    default:
      return { type: 'Ready', status: 'True', reason: 'Scheduled', message: `plan: ${outcome.action}` };
  }
}

/** Sets one condition; its lastTransitionTime moves only when its status changes. */
export function setCondition(
  conditions: readonly Condition[] = [],
  update: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const existing = conditions.find((c) => c.type === update.type);
  const lastTransitionTime =
    existing?.status === update.status && existing.lastTransitionTime !== undefined
      ? existing.lastTransitionTime
      : now.toISOString();
  return [...conditions.filter((c) => c.type !== update.type), { ...update, lastTransitionTime }];
}

export interface TestScheduleOptions {
  namespace: string;
  now?: () => Date;
}

export class TestScheduleSource implements ScheduleSource, RoundObserver {
  private readonly api: CustomObjectsApi;
  private readonly namespace: string;
  private readonly now: () => Date;

  constructor(api: CustomObjectsApi, options: TestScheduleOptions) {
    this.api = api;
    this.namespace = options.namespace;
    this.now = options.now ?? (() => new Date());
  }

  /** Every valid TestSchedule of the namespace; an invalid one gets Ready=False naming the field and is left out. */
  async list(): Promise<Schedule[]> {
    const list = z.object({ items: z.array(objectSchema) }).parse(
      await withApiRetry('list TestSchedules', () =>
        this.api.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: this.namespace,
          plural: PLURAL,
        }),
      ),
    );
    const schedules: Schedule[] = [];
    for (const item of list.items) {
      try {
        schedules.push(scheduleFromSpec(item.metadata.name, item.spec));
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        log.warn({ schedule: item.metadata.name, err: err.message }, 'invalid TestSchedule left out');
        await this.report(item.metadata.name, (status) => ({
          ...status,
          conditions: setCondition(
            status.conditions,
            { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: err.message },
            this.now(),
          ),
        }));
      }
    }
    return schedules;
  }

  async planned(outcome: PlanOutcome, manifest: RoundManifest | undefined): Promise<void> {
    await this.report(outcome.schedule, (status) => {
      const withLatest = manifest === undefined ? status : withRound(status, manifest, this.now());
      return {
        ...withLatest,
        conditions: setCondition(withLatest.conditions, readyCondition(outcome), this.now()),
      };
    });
  }

  async progressed(manifest: RoundManifest): Promise<void> {
    if (!manifest.pairs.some(isFinished) && manifest.closedAt === null) return;
    await this.report(manifest.schedule, (status) => withRound(status, manifest, this.now()));
  }

  /** Read, change, write back with the version read; on 409 read again. Errors are logged, not thrown. */
  private async report(
    name: string,
    change: (status: TestScheduleStatus) => TestScheduleStatus,
  ): Promise<void> {
    try {
      for (let attempt = 1; ; attempt++) {
        const current = await this.read(name);
        if (current === undefined) return;
        const status = change(current.status ?? {});
        const generation = current.metadata.generation;
        const body = {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'TestSchedule',
          metadata: current.metadata,
          spec: current.spec,
          status: {
            ...status,
            ...(generation === undefined ? {} : { observedGeneration: generation }),
            conditions: (status.conditions ?? []).map((c) =>
              generation === undefined ? c : { ...c, observedGeneration: generation },
            ),
          },
        };
        try {
          await withApiRetry(`update TestSchedule ${name} status`, () =>
            this.api.replaceNamespacedCustomObjectStatus({
              group: GROUP,
              version: VERSION,
              namespace: this.namespace,
              plural: PLURAL,
              name,
              body,
            }),
          );
          return;
        } catch (err) {
          if (err instanceof ApiException && err.code === 409 && attempt < CONFLICT_RETRIES) continue;
          throw err;
        }
      }
    } catch (err) {
      log.error({ schedule: name, err: errorLine(err) }, 'TestSchedule status not updated');
    }
  }

  private async read(name: string): Promise<TestScheduleObject | undefined> {
    try {
      return objectSchema.parse(
        await withApiRetry(`read TestSchedule ${name}`, () =>
          this.api.getNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace: this.namespace,
            plural: PLURAL,
            name,
          }),
        ),
      );
    } catch (err) {
      // Deleted since it was listed: nothing to report to.
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }
}
