import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { FLENT_TESTS, LENGTH_RANGE } from '../flent/spec.ts';

/** A test schedule: which test, how long, when (cron). The TestSchedule resource in a cluster. */
export interface Schedule {
  name: string;
  cron: string;
  timeZone?: string;
  test: (typeof FLENT_TESTS)[number];
  lengthSeconds: number;
  delaySeconds?: number;
  suspend?: boolean;
}

const scheduleSchema = z.object({
  name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a DNS label (a-z, 0-9, -)'),
  cron: z.string().min(1),
  timeZone: z.string().min(1).optional(),
  test: z.enum(FLENT_TESTS),
  lengthSeconds: z.number().int().min(LENGTH_RANGE.min).max(LENGTH_RANGE.max),
  delaySeconds: z.number().int().min(0).max(60).optional(),
  suspend: z.boolean().optional(),
});

/** Checks a cron expression (5 fields, or 6 with seconds) and time zone; throws naming the field. */
export function validateCron(field: string, cron: string, timeZone?: string): void {
  try {
    CronExpressionParser.parse(cron, timeZone === undefined ? {} : { tz: timeZone });
  } catch (err) {
    throw new ConfigError(
      field,
      cron,
      `a cron expression such as "*/30 * * * *" (${(err as Error).message})`,
    );
  }
}

export function parseSchedules(json: string, field = 'NETMON_SCHEDULES'): Schedule[] {
  let document: unknown;
  try {
    document = JSON.parse(json);
  } catch (err) {
    throw new ConfigError(field, json, `a JSON list of schedules (${(err as Error).message})`);
  }
  const parsed = z.array(scheduleSchema).min(1).safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${field}[${issue?.path.join('.')}]`, undefined, issue?.message ?? 'a schedule');
  }
  const names = new Set<string>();
  return parsed.data.map((schedule, i) => {
    validateCron(`${field}[${i}].cron`, schedule.cron, schedule.timeZone);
    if (names.has(schedule.name))
      throw new ConfigError(`${field}[${i}].name`, schedule.name, 'a name used once');
    names.add(schedule.name);
    const { timeZone, delaySeconds, suspend, ...required } = schedule;
    return {
      ...required,
      ...(timeZone === undefined ? {} : { timeZone }),
      ...(delaySeconds === undefined ? {} : { delaySeconds }),
      ...(suspend === undefined ? {} : { suspend }),
    };
  });
}

/** The latest cron tick at or before `now`: the time a round opened now belongs to. */
export function latestTick(schedule: Pick<Schedule, 'cron' | 'timeZone'>, now: Date): Date {
  const expression = CronExpressionParser.parse(schedule.cron, {
    currentDate: new Date(now.getTime() + 1),
    ...(schedule.timeZone === undefined ? {} : { tz: schedule.timeZone }),
  });
  return expression.prev().toDate();
}
