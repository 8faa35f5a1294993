import { randomUUID } from 'node:crypto';
import { ApiException, type CoreV1Api, type V1OwnerReference, type V1Pod } from '@kubernetes/client-node';
import { errorLine, RunnerError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { onShutdown } from '../core/shutdown.ts';
import type { RunnerNode } from '../domain/runner.ts';
import type { Sweeper, SweepSource } from '../domain/sweep.ts';
import { decodeSweepReport } from '../flent/sweep-report.ts';
import { LABELS, type PodSettings, SWEEP_MANAGED_BY, sweepPod } from './pods.ts';
import { podSecurityRefusal } from './runner.ts';

export interface KubernetesSweeperOptions
  extends Pick<PodSettings, 'namespace' | 'image' | 'hostNetwork' | 'agentCommand'> {
  /** The sweep's own pod: owner of the sweep pods, so they go with it (a Job deleted by helm uninstall). */
  ownerPodName?: string;
  /** activeDeadlineSeconds of a sweep pod, image pull included; under the sweep Job's own deadline. */
  podDeadlineSeconds?: number;
  pollMs?: number;
}

/** The sweep CronJob's Job ends at 55 s: its pods end before (a pod that cannot start costs this), and are deleted. */
const POD_DEADLINE_SECONDS = 30;
/** How long ended pods may take to be removed before they are force-deleted. */
const POD_GONE_TIMEOUT_MS = 20_000;
/** Sweep pods older than this belong to a sweep that died: the next sweep removes them. */
const STALE_SECONDS = 120;

/**
 * The Kubernetes sweep: one pod per node at once (pinned by nodeName), each
 * the agent's `sweep` mode; their reports come back in the pods'
 * termination messages; every pod is deleted in every case. Pods are listed
 * and deleted by the sweep's own label, not read one by one: a sweep has as
 * many pods as nodes.
 */
export class KubernetesSweeper implements Sweeper {
  private readonly core: CoreV1Api;
  private readonly options: KubernetesSweeperOptions;

  constructor(core: CoreV1Api, options: KubernetesSweeperOptions) {
    this.core = core;
    this.options = options;
  }

  async sweep(nodes: readonly RunnerNode[]): Promise<SweepSource[]> {
    await this.deletePods(`${LABELS.managedBy}=${SWEEP_MANAGED_BY}`, STALE_SECONDS);
    const sweepId = randomUUID();
    const selector = `${LABELS.managedBy}=${SWEEP_MANAGED_BY},${LABELS.runId}=${sweepId}`;
    const deadlineSeconds = this.options.podDeadlineSeconds ?? POD_DEADLINE_SECONDS;
    const owner = await this.ownerReference();
    const planned = nodes.map((node) => {
      const peers = nodes.filter((peer) => peer.name !== node.name);
      const pod = sweepPod(
        { node: node.name, targets: peers.map((p) => p.address), sweepId, deadlineSeconds },
        this.options,
      );
      if (owner !== undefined) pod.metadata = { ...pod.metadata, ownerReferences: [owner] };
      return { node, peers, pod };
    });
    // SIGTERM (the Job deleted) exits before `finally`: ask for the pods' deletion then too.
    const unregister = onShutdown(`sweep pods of ${sweepId}`, () => this.deletePods(selector, 0, false));
    try {
      const created = await Promise.all(planned.map(({ pod }) => this.create(pod)));
      const ended = await this.waitForEnd(
        selector,
        created.filter((c) => c === undefined).length,
        deadlineSeconds,
      );
      return planned.map(({ node, peers, pod }, i): SweepSource => {
        const refused = created[i];
        if (refused !== undefined) return { src: node.name, ok: false, message: refused };
        return sourceOf(node.name, peers, ended.get(pod.metadata?.name as string));
      });
    } finally {
      await this.deletePods(selector, 0).finally(unregister);
    }
  }

  /** Creates one pod; the reason it was refused, or undefined. A refusal is that node's failure, not the sweep's. */
  private async create(pod: V1Pod): Promise<string | undefined> {
    try {
      await this.core.createNamespacedPod({ namespace: this.options.namespace, body: pod });
      return undefined;
    } catch (err) {
      const refusal = podSecurityRefusal(err);
      if (refusal !== undefined)
        return `namespace ${this.options.namespace} refuses the sweep pods (Pod Security level ${refusal.level}): ${refusal.message}`;
      throw new RunnerError(`cannot create sweep pod ${pod.metadata?.name}: ${errorLine(err)}`, {
        cause: err,
      });
    }
  }

  /** The sweep's pods by name once `expected` of them have ended, or as they are at the deadline. */
  private async waitForEnd(
    selector: string,
    expected: number,
    deadlineSeconds: number,
  ): Promise<Map<string, V1Pod>> {
    const deadline = Date.now() + (deadlineSeconds + 5) * 1000;
    for (;;) {
      const pods = await this.list(selector);
      const ended = pods.filter((p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed');
      if (ended.length >= expected || Date.now() > deadline)
        return new Map(pods.map((pod) => [pod.metadata?.name as string, pod]));
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 250));
    }
  }

  private async list(selector: string): Promise<V1Pod[]> {
    const pods = await this.core.listNamespacedPod({
      namespace: this.options.namespace,
      labelSelector: selector,
    });
    return pods.items;
  }

  /**
   * Deletes the pods of `selector` older than `olderThanSeconds` and, unless
   * told not to, waits until their kubelets removed them (force-deleting
   * those whose node does not answer).
   */
  private async deletePods(selector: string, olderThanSeconds: number, wait = true): Promise<void> {
    const cutoff = Date.now() - olderThanSeconds * 1000;
    const names = (await this.list(selector))
      .filter((pod) => new Date(pod.metadata?.creationTimestamp ?? 0).getTime() <= cutoff)
      .map((pod) => pod.metadata?.name as string);
    await Promise.all(names.map((name) => this.deletePod(name, undefined)));
    if (!wait || names.length === 0) return;
    const deadline = Date.now() + POD_GONE_TIMEOUT_MS;
    let left = names;
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 250));
      const present = new Set((await this.list(selector)).map((pod) => pod.metadata?.name));
      left = left.filter((name) => present.has(name));
    }
    if (left.length === 0) return;
    log.warn({ pods: left }, 'sweep pods not removed by their kubelet in time (node down?): force-deleted');
    await Promise.all(left.map((name) => this.deletePod(name, 0)));
  }

  private async deletePod(name: string, gracePeriodSeconds: number | undefined): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({
        name,
        namespace: this.options.namespace,
        ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
      });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404))
        log.warn({ pod: name, err: errorLine(err) }, 'sweep pod not deleted');
    }
  }

  private async ownerReference(): Promise<V1OwnerReference | undefined> {
    const name = this.options.ownerPodName;
    if (name === undefined) return undefined;
    try {
      const pod = await this.core.readNamespacedPod({ name, namespace: this.options.namespace });
      const uid = pod.metadata?.uid;
      return uid === undefined ? undefined : { apiVersion: 'v1', kind: 'Pod', name, uid };
    } catch (err) {
      // Not a pod (a cloud function, a CLI): no owner; the next sweep removes leftovers.
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }
}

/** One node's sweep from its pod: the report in the termination message, or why there is none. */
function sourceOf(src: string, peers: readonly RunnerNode[], pod: V1Pod | undefined): SweepSource {
  if (pod === undefined) return { src, ok: false, message: 'its sweep pod disappeared before it ended' };
  const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
  if (pod.status?.reason === 'DeadlineExceeded' || terminated === undefined) {
    const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
    const why = waiting
      ? `${waiting.reason}: ${waiting.message ?? ''}`.trim()
      : (pod.status?.phase ?? 'Pending');
    return { src, ok: false, message: `its sweep pod did not end in time (${pod.status?.reason ?? why})` };
  }
  try {
    const report = decodeSweepReport(
      terminated.message ?? '',
      peers.map((p) => p.name),
    );
    return typeof report.peers === 'string'
      ? { src, ok: false, message: report.peers }
      : { src, ok: true, peers: report.peers };
  } catch (err) {
    return {
      src,
      ok: false,
      message: `sweep pod exited ${terminated.exitCode}: ${(terminated.message ?? '').slice(-300) || errorLine(err)}`,
    };
  }
}
