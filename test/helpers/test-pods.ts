import { type KubeConfig, type V1Pod, Watch } from '@kubernetes/client-node';
import { waitFor } from '../../layers/core/process.ts';
import { LABELS, MANAGED_BY } from '../../layers/k8s/pods.ts';

/**
 * The test pods of the Kubernetes runner as the API server sees them, from
 * one watch: its events come in the API server's commit order, so the order
 * of two tests' pods is exact (no clock skew), and a test's pods can be
 * waited for to reach a phase before a fault is caused.
 */

export interface TestPodEvent {
  type: string;
  runId: string;
  schedule: string;
  component: string;
  src: string;
  dst: string;
  phase: string;
}

export interface TestPodWatch {
  readonly events: TestPodEvent[];
  stop(): void;
}

export async function watchTestPods(kubeconfig: KubeConfig, namespace: string): Promise<TestPodWatch> {
  const events: TestPodEvent[] = [];
  const controller = await new Watch(kubeconfig).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    { labelSelector: `${LABELS.managedBy}=${MANAGED_BY}` },
    (type, pod: V1Pod) => {
      const labels = pod.metadata?.labels ?? {};
      events.push({
        type,
        runId: labels[LABELS.runId] ?? '',
        schedule: labels[LABELS.schedule] ?? '',
        component: labels[LABELS.component] ?? '',
        src: labels[LABELS.src] ?? '',
        dst: labels[LABELS.dst] ?? '',
        phase: pod.status?.phase ?? '',
      });
    },
    () => undefined,
  );
  return { events, stop: () => controller.abort() };
}

/** The tests' run ids in the order their first pod appeared (of one schedule's, when given). */
export function runsOf(events: readonly TestPodEvent[], schedule?: string): string[] {
  return [
    ...new Set(events.filter((e) => schedule === undefined || e.schedule === schedule).map((e) => e.runId)),
  ];
}

/**
 * Waits until the `index`-th test (0: the first) of `schedule` has its
 * client pod Running (the agent started: the test is under way); its pair.
 * `alive` fails the wait early when what runs the tests has ended.
 */
export async function clientRunning(
  watch: TestPodWatch,
  schedule: string,
  index: number,
  alive: () => boolean,
  timeoutMs = 120_000,
): Promise<{ runId: string; src: string; dst: string }> {
  let found: TestPodEvent | undefined;
  await waitFor(
    `test ${index + 1} of ${schedule}: its client pod Running`,
    () => {
      const runId = runsOf(watch.events, schedule)[index];
      found = watch.events.find(
        (e) => e.runId === runId && e.component === 'client' && e.phase === 'Running',
      );
      if (found === undefined && !alive()) throw new Error(`the tests ended before test ${index + 1} ran`);
      return found !== undefined;
    },
    { timeoutMs, intervalMs: 50 },
  );
  const { runId, src, dst } = found as TestPodEvent;
  return { runId, src, dst };
}

/**
 * Each test's pods, from its first ADDED to its last DELETED, form one block
 * with no other test's event inside: the tests did not overlap. The
 * violations, and the tests whose last event is not a deletion (a pod left).
 */
export function overlappingRuns(events: readonly TestPodEvent[]): string[] {
  const found: string[] = [];
  for (const run of runsOf(events)) {
    const first = events.findIndex((e) => e.runId === run);
    const last = events.findLastIndex((e) => e.runId === run);
    const inside = [
      ...new Set(events.slice(first, last + 1).flatMap((e) => (e.runId === run ? [] : [e.runId]))),
    ];
    if (inside.length > 0) found.push(`events of ${inside.join(', ')} during ${run}`);
    if (events[last]?.type !== 'DELETED') found.push(`${run} ends with ${events[last]?.type}, not DELETED`);
  }
  return found;
}
