import { z } from 'zod';
import { errorLine } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { MetricsError } from './errors.ts';
import { bodyTail, DEFAULT_TIMEOUT_MS, endpoint, getJson, parseBaseUrl } from './http.ts';
import { groupingPath, JOB, PUSH_TIME_METRIC } from './names.ts';
import { ROUNDS_JOB } from './rounds.ts';
import { SOLO_JOB } from './solo.ts';
import { SWEEP_JOB } from './sweep.ts';

/**
 * Pushgateway groups outlive what they describe: a node that left keeps its
 * pairs' last figures on the gateway (and so in Prometheus and the graph)
 * forever, and so does a deleted schedule. Pruning deletes the groups of
 * our jobs whose node or schedule is gone and that nobody pushed for longer
 * than the retention; everything else (and every other job) stays.
 */
const OUR_JOBS = [JOB, SWEEP_JOB, ROUNDS_JOB, SOLO_JOB] as const;

const groupsSchema = z.object({
  status: z.literal('success'),
  data: z.array(z.looseObject({ labels: z.record(z.string(), z.string()) })),
});
const pushTimeSchema = z.object({ metrics: z.array(z.object({ value: z.string() })) });

export interface PruneOptions {
  /** The cluster's nodes now (Ready or not: a NotReady node is not gone). */
  nodes: readonly string[];
  /** The schedules now. */
  schedules: readonly string[];
  /** A group of a gone node or schedule is deleted once nobody pushed it for this long. */
  retentionSeconds: number;
  now: Date;
  timeoutMs?: number;
}

export interface PrunedGroup {
  job: string;
  labels: Record<string, string>;
  why: string;
}

export interface PruneReport {
  deleted: PrunedGroup[];
  /** Groups of our jobs left in place. */
  kept: number;
}

/** What makes a group an orphan, or null while what it describes is still there. */
function goneOf(labels: Record<string, string>, nodes: Set<string>, schedules: Set<string>): string | null {
  const { schedule, src, dst } = labels;
  if (schedule !== undefined && !schedules.has(schedule)) return `schedule ${schedule} is gone`;
  for (const node of [src, dst]) if (node !== undefined && !nodes.has(node)) return `node ${node} is gone`;
  return null;
}

export async function pruneGroups(gatewayUrl: string, options: PruneOptions): Promise<PruneReport> {
  parseBaseUrl(gatewayUrl);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const what = 'read the groups of';
  const { status, body } = await getJson(gatewayUrl, 'api/v1/metrics', what, timeoutMs);
  const parsed = groupsSchema.safeParse(body);
  if (status !== 200 || !parsed.success)
    throw new MetricsError(what, gatewayUrl, status, `unexpected answer: ${bodyTail(JSON.stringify(body))}`);
  const nodes = new Set(options.nodes);
  const schedules = new Set(options.schedules);
  const cutoff = options.now.getTime() / 1000 - options.retentionSeconds;
  const report: PruneReport = { deleted: [], kept: 0 };
  for (const group of parsed.data.data) {
    const { job, ...labels } = group.labels;
    if (job === undefined || !(OUR_JOBS as readonly string[]).includes(job)) continue;
    const why = goneOf(labels, nodes, schedules);
    const pushed = pushTimeSchema.safeParse(group[PUSH_TIME_METRIC]);
    const pushedAt = pushed.success ? Math.max(...pushed.data.metrics.map((m) => Number(m.value))) : 0;
    if (why === null || pushedAt > cutoff) {
      report.kept++;
      continue;
    }
    await deleteGroup(gatewayUrl, job, labels, timeoutMs);
    report.deleted.push({ job, labels, why });
  }
  if (report.deleted.length > 0) log.info({ deleted: report.deleted, kept: report.kept }, 'pruned groups');
  return report;
}

async function deleteGroup(
  gatewayUrl: string,
  job: string,
  labels: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  const { url, headers } = endpoint(gatewayUrl, groupingPath(labels, job).slice(1));
  let response: Response;
  try {
    response = await fetch(url, { method: 'DELETE', headers, signal: AbortSignal.timeout(timeoutMs) });
    await response.text();
  } catch (err) {
    throw new MetricsError('delete a group on', url, null, errorLine(err), { cause: err });
  }
  if (!response.ok) throw new MetricsError('delete a group on', url, response.status, 'refused');
}
