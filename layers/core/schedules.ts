import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { CONCURRENCY_MODES, type Schedule } from '../domain/schedule.ts';
import {
  DELAY_RANGE,
  LENGTH_RANGE,
  minTimeoutSeconds,
  TEST_NAMES,
  TEST_START_SECONDS,
  TEST_TYPES,
} from '../domain/test-types.ts';
import { ConfigError } from './errors.ts';

/** Schedules are settings (NETMON_SCHEDULES, TestSchedule specs): checked here, field by field. */

/** A schedule's concurrency (layers/domain/schedule.ts), also as round manifests keep it. */
export const concurrencySchema = z
  .object({
    mode: z.enum(CONCURRENCY_MODES),
    maxParallel: z.number().int().min(1).max(1000).optional(),
  })
  .strict();

const scheduleSchema = z.object({
  name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a DNS label (a-z, 0-9, -)'),
  cron: z.string().min(1),
  timeZone: z.string().min(1).optional(),
  test: z.enum(TEST_NAMES),
  lengthSeconds: z.number().int().min(LENGTH_RANGE.min).max(LENGTH_RANGE.max),
  delaySeconds: z.number().int().min(DELAY_RANGE.min).max(DELAY_RANGE.max).optional(),
  suspend: z.boolean().optional(),
  nodeSelector: z.record(z.string(), z.string()).optional(),
  hostNetwork: z.boolean().optional(),
  timeoutSeconds: z.number().int().min(10).max(7200).optional(),
  concurrency: concurrencySchema.optional(),
});

/** cron-parser quietly falls back to UTC on an unknown zone; Intl refuses it. */
function validateTimeZone(field: string, timeZone: string): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw new ConfigError(field, timeZone, 'an IANA time zone such as "Europe/Vienna" or "UTC"');
  }
}

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
  if (!Array.isArray(document) || document.length === 0)
    throw new ConfigError(field, json.slice(0, 200), 'a non-empty JSON list of schedules');
  const names = new Set<string>();
  return document.map((candidate, i) => {
    const schedule = validateSchedule(candidate, `${field}[${i}]`);
    if (names.has(schedule.name))
      throw new ConfigError(`${field}[${i}].name`, schedule.name, 'a name used once');
    names.add(schedule.name);
    return schedule;
  });
}

/** One schedule checked field by field (cron and time zone included); throws ConfigError naming the field. */
export function validateSchedule(candidate: unknown, field: string): Schedule {
  const parsed = scheduleSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const value = issue?.path.reduce<unknown>(
      (at, key) =>
        typeof at === 'object' && at !== null ? (at as Record<PropertyKey, unknown>)[key] : undefined,
      candidate,
    );
    throw new ConfigError(`${field}.${issue?.path.join('.')}`, value, issue?.message ?? 'a schedule');
  }
  const { test, lengthSeconds } = parsed.data;
  const minLength = TEST_TYPES[test].minLengthSeconds;
  if (lengthSeconds < minLength)
    throw new ConfigError(
      `${field}.lengthSeconds`,
      lengthSeconds,
      `at least ${minLength} seconds for ${test}`,
    );
  const { timeoutSeconds, delaySeconds } = parsed.data;
  const minTimeout = minTimeoutSeconds(lengthSeconds, delaySeconds);
  if (timeoutSeconds !== undefined && timeoutSeconds < minTimeout)
    throw new ConfigError(
      `${field}.timeoutSeconds`,
      timeoutSeconds,
      `at least ${minTimeout} seconds (length + 2 x delay + ${TEST_START_SECONDS} s to start): a shorter limit kills every test`,
    );
  if (parsed.data.timeZone !== undefined) validateTimeZone(`${field}.timeZone`, parsed.data.timeZone);
  validateCron(`${field}.cron`, parsed.data.cron, parsed.data.timeZone);
  const { concurrency, ...rest } = parsed.data;
  return withoutUndefined({
    ...rest,
    concurrency: concurrency === undefined ? undefined : withoutUndefined(concurrency),
  });
}

/** exactOptionalPropertyTypes: optional fields are left out rather than set to undefined. */
export function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/** True when a node's labels carry every label of the selector (an empty selector matches all). */
export function matchesSelector(
  labels: Record<string, string>,
  selector: Record<string, string> = {},
): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** The latest cron tick at or before `now`: the time a round opened now belongs to. */
export function latestTick(schedule: Pick<Schedule, 'cron' | 'timeZone'>, now: Date): Date {
  const expression = CronExpressionParser.parse(schedule.cron, {
    currentDate: new Date(now.getTime() + 1),
    ...(schedule.timeZone === undefined ? {} : { tz: schedule.timeZone }),
  });
  return expression.prev().toDate();
}

/** The first cron tick at or after `time`. */
export function nextTick(schedule: Pick<Schedule, 'cron' | 'timeZone'>, time: Date): Date {
  const expression = CronExpressionParser.parse(schedule.cron, {
    currentDate: new Date(time.getTime() - 1),
    ...(schedule.timeZone === undefined ? {} : { tz: schedule.timeZone }),
  });
  return expression.next().toDate();
}
