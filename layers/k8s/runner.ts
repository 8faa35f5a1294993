import { randomUUID } from 'node:crypto';
import {
  ApiException,
  type CoreV1Api,
  type V1ContainerStatus,
  type V1OwnerReference,
  type V1Pod,
} from '@kubernetes/client-node';
import { parseClockLog } from '../core/clock.ts';
import { errorLine, RunnerError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { onShutdown } from '../core/shutdown.ts';
import type { ClockState } from '../domain/clock.ts';
import { worseClock } from '../domain/one-way.ts';
import type { FailureReason } from '../domain/outcome.ts';
import { timed } from '../domain/phases.ts';
import type { RunHooks, Runner, TestOutcome, TestRequest } from '../domain/runner.ts';
import { decodeReport, ReportError } from '../flent/compact.ts';
import {
  CLOCK_CONTAINER,
  clientPod,
  LABELS,
  MANAGED_BY,
  type PodSettings,
  serverPod,
  type TestContext,
} from './pods.ts';
import { withApiRetry } from './retry.ts';

export interface KubernetesRunnerOptions extends PodSettings {
  /** How long the server pod may take to be ready (image pull included). */
  serverReadyTimeoutSeconds: number;
  /**
   * The pod the runner runs in (the probe's): the test pods name it as their owner, so the garbage
   * collector deletes them when it goes (a Job deleted by helm uninstall, whose RBAC goes at the same
   * moment, or a probe killed outright). Not a pod (a cloud function): no owner.
   */
  ownerPodName?: string;
  pollMs?: number;
}

const DEADLINE_GRACE_SECONDS = 10;
/** How long a deleted pod's kubelet has to stop its containers and remove it before it is force-deleted. */
const POD_GONE_TIMEOUT_SECONDS = 30;
/** How often a wait for a test pod also looks at the test's two nodes. */
const NODE_CHECK_MS = 2000;

/** ready: running with every container ready; started: past Pending (images pulled); done: ended. */
type Goal = 'ready' | 'started' | 'done';

type PodState =
  | { kind: 'ready'; pod: V1Pod }
  | { kind: 'done'; pod: V1Pod }
  | { kind: 'stuck'; reason: string }
  /** A container of a pod that should keep running exited: waiting longer cannot help. */
  | { kind: 'failed'; reason: string }
  | { kind: 'gone' }
  /**
   * A node of the test deleted (gone) or not Ready: its pods cannot run, or
   * say that they ended, and its end of the test may be gone with it.
   */
  | { kind: 'node-lost'; node: string; gone: boolean };

/**
 * The Kubernetes runner: a server pod on dst, then a client pod on src that
 * runs the agent; the agent's report comes back in the client pod's
 * termination message. Both pods are deleted in every case.
 *
 * A node of the test deleted or not Ready while it runs (judged as the probe
 * judges nodes before a test) ends it within NODE_CHECK_MS as a tool-error
 * that names the node: the test broke, it measured nothing about the network.
 */
export class KubernetesRunner implements Runner {
  private readonly core: CoreV1Api;
  private readonly options: KubernetesRunnerOptions;
  private owner: Promise<V1OwnerReference | undefined> | undefined;

  constructor(core: CoreV1Api, options: KubernetesRunnerOptions) {
    this.core = core;
    this.options = options;
  }

  /** The owner reference to the runner's own pod, read once; undefined when there is none. */
  private ownerReference(): Promise<V1OwnerReference | undefined> {
    const name = this.options.ownerPodName;
    if (name === undefined) return Promise.resolve(undefined);
    this.owner ??= withApiRetry(`read own pod ${name}`, () =>
      this.core.readNamespacedPod({ name, namespace: this.options.namespace }),
    ).then(
      (pod) =>
        pod.metadata?.uid === undefined
          ? undefined
          : { apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata.uid },
      (err) => {
        if (!(err instanceof ApiException && err.code === 404)) {
          this.owner = undefined;
          throw err;
        }
        return undefined;
      },
    );
    return this.owner;
  }

  async run(request: TestRequest, hooks: RunHooks = {}): Promise<TestOutcome> {
    const context: TestContext = {
      schedule: request.schedule ?? 'adhoc',
      round: request.round ?? 'adhoc',
      runId: randomUUID(),
    };
    const started = new Date();
    const settings: PodSettings = {
      ...this.options,
      ...(request.hostNetwork === undefined ? {} : { hostNetwork: request.hostNetwork }),
    };
    const server = serverPod(request, context, settings);
    const owner = await this.ownerReference();
    const owned = (pod: V1Pod): V1Pod =>
      owner === undefined ? pod : { ...pod, metadata: { ...pod.metadata, ownerReferences: [owner] } };
    const names: string[] = [];
    const nodes = [...new Set([request.src.name, request.dst.name])];
    /** Pods on a node found deleted: nothing is left there to confirm their deletion. */
    const orphaned = new Set<string>();
    const ended = (state: PodState, pod: string): TestOutcome | undefined => {
      if (state.kind !== 'node-lost') return undefined;
      if (state.gone) {
        if (state.node === request.dst.name) orphaned.add(names[0] as string);
        if (state.node === request.src.name && names[1] !== undefined) orphaned.add(names[1]);
      }
      return this.failure(
        request,
        started,
        'tool-error',
        `${describe(state)} (found while the ${pod} ran): the test measured nothing`,
      );
    };
    // SIGTERM (the probe's Job deleted, e.g. by helm uninstall) exits before `finally`: the pods
    // would outlive the release. Ask for their deletion then too (no wait: the grace period is short).
    const unregister = onShutdown(`test pods of run ${context.runId}`, async () => {
      await Promise.all(names.map((name) => this.deletePod(name, undefined)));
    });
    try {
      names.push(server.metadata?.name as string);
      const ready = await timed(hooks.onPhase, 'server-ready', async () => {
        await this.createPod(owned(server));
        return this.waitFor(server, 'ready', this.options.serverReadyTimeoutSeconds, nodes, hooks.signal);
      });
      const serverLost = ended(ready, `server pod on ${request.dst.name}`);
      if (serverLost !== undefined) return serverLost;
      if (ready.kind !== 'ready')
        return this.failure(
          request,
          started,
          'server-missing',
          `server pod on ${request.dst.name}: ${describe(ready)}`,
        );
      const address = settings.hostNetwork
        ? request.dst.address
        : (ready.pod.status?.podIP ?? request.dst.address);
      await hooks.serversReady?.();
      // The lock lost while waiting for the slot's other servers: the client must not start.
      hooks.signal?.throwIfAborted();
      const client = clientPod(request, context, settings, address);
      names.push(client.metadata?.name as string);
      // An image that never pulls on src must not hold the test until the pod's deadline.
      const running = await timed(hooks.onPhase, 'client-start', async () => {
        await this.createPod(owned(client));
        return this.waitFor(client, 'started', this.options.serverReadyTimeoutSeconds, nodes, hooks.signal);
      });
      const clientLost = ended(running, `client pod on ${request.src.name}`);
      if (clientLost !== undefined) return clientLost;
      if (running.kind === 'stuck' || running.kind === 'gone')
        return this.failure(
          request,
          started,
          'timeout',
          `client pod on ${request.src.name}: ${describe(running)}`,
        );
      // A little past the pod's own deadline, so that the kubelet's DeadlineExceeded is what we see.
      const finished = await timed(hooks.onPhase, 'flent-run', () =>
        this.waitFor(
          client,
          'done',
          (client.spec?.activeDeadlineSeconds ?? 300) + DEADLINE_GRACE_SECONDS,
          nodes,
          hooks.signal,
        ),
      );
      const testLost = ended(finished, 'test');
      if (testLost !== undefined) return testLost;
      if (finished.kind !== 'done')
        return this.failure(
          request,
          started,
          'timeout',
          `client pod on ${request.src.name}: ${describe(finished)}`,
        );
      const outcome = this.fromClient(request, started, finished.pod);
      return {
        ...outcome,
        clocks: {
          src: outcome.clocks?.src ?? null,
          dst: await timed(hooks.onPhase, 'clock', () => this.serverClock(server)),
        },
      };
    } finally {
      // Registered until the pods are gone: a SIGTERM while they are deleted still asks again.
      await timed(hooks.onPhase, 'cleanup', () => this.deletePods(names, orphaned)).finally(unregister);
    }
  }

  /**
   * Deletes pods of earlier runs that crashed before cleaning up, on `nodes`
   * only (pinned there by nodeName): the caller holds those nodes' test locks,
   * so no live test has a pod there, while tests on other nodes may be running.
   */
  async cleanupStale(olderThanSeconds: number, nodes: readonly string[]): Promise<number> {
    const pods = await withApiRetry('list test pods', () =>
      this.core.listNamespacedPod({
        namespace: this.options.namespace,
        labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
      }),
    );
    const cutoff = Date.now() - olderThanSeconds * 1000;
    const held = new Set(nodes);
    const stale = pods.items.filter(
      (pod) =>
        held.has(pod.spec?.nodeName ?? '') &&
        new Date(pod.metadata?.creationTimestamp ?? 0).getTime() < cutoff,
    );
    await this.deletePods(stale.map((pod) => pod.metadata?.name as string));
    if (stale.length > 0)
      log.warn({ pods: stale.map((p) => p.metadata?.name) }, 'deleted pods of crashed runs');
    return stale.length;
  }

  /** Creates a test pod; a namespace whose Pod Security level refuses it is a RunnerError that names the label. */
  private async createPod(pod: V1Pod): Promise<void> {
    try {
      await withApiRetry(`create pod ${pod.metadata?.name}`, () =>
        this.core.createNamespacedPod({ namespace: this.options.namespace, body: pod }),
      );
    } catch (err) {
      // Names are unique per run: a 409 is our own create, answered after a lost connection and retried.
      if (err instanceof ApiException && err.code === 409) return;
      const refusal = podSecurityRefusal(err);
      if (refusal === undefined) throw err;
      throw new RunnerError(
        `namespace ${this.options.namespace} refuses the test pods: its label ${POD_SECURITY_LABEL}=${refusal.level} (Pod Security admission) forbids them (${refusal.message}); test pods on the host network (hostNetwork: true) need ${POD_SECURITY_LABEL}=privileged on the namespace: label it so, or test the pod network (hostNetwork: false)`,
        { cause: err },
      );
    }
  }

  private fromClient(request: TestRequest, started: Date, pod: V1Pod): TestOutcome {
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    const message = terminated?.message ?? '';
    // The pod's own reasons come before whatever text the killed agent left behind.
    if (pod.status?.reason === 'DeadlineExceeded')
      return this.failure(
        request,
        started,
        'deadline-exceeded',
        `client pod on ${request.src.name} stopped at its activeDeadlineSeconds (${pod.spec?.activeDeadlineSeconds} s): ${pod.status.message ?? ''}`.trim(),
      );
    if (terminated?.reason === 'OOMKilled')
      return this.failure(
        request,
        started,
        'oom-killed',
        `the agent on ${request.src.name} ran out of memory (limit ${pod.spec?.containers[0]?.resources?.limits?.memory ?? 'none'}) and was killed`,
      );
    try {
      const report = decodeReport(message);
      return {
        ...report.outcome,
        src: request.src.name,
        dst: request.dst.name,
        ...(report.archiveKey === null ? {} : { storedArchiveKey: report.archiveKey }),
        clocks: { src: report.clock, dst: null },
      };
    } catch (err) {
      if (!(err instanceof ReportError)) throw err;
      const why = terminated
        ? `agent exited ${terminated.exitCode}: ${message.slice(-500) || terminated.reason}`
        : errorLine(err);
      return this.failure(request, started, 'tool-error', why);
    }
  }

  /** dst's clock from the server pod's clock container: the worse of its first and last reading; null if none. */
  private async serverClock(server: V1Pod): Promise<ClockState | null> {
    try {
      const text = await withApiRetry('read the server clock log', () =>
        this.core.readNamespacedPodLog({
          name: server.metadata?.name as string,
          namespace: this.options.namespace,
          container: CLOCK_CONTAINER,
        }),
      );
      const readings = parseClockLog(text);
      return worseClock(readings[0] ?? null, readings.at(-1) ?? null);
    } catch (err) {
      // Without it the one-way delays are untrusted, not lost: the test's figures stand.
      log.warn({ pod: server.metadata?.name, err: errorLine(err) }, 'server clock not read');
      return null;
    }
  }

  private failure(request: TestRequest, started: Date, reason: FailureReason, message: string): TestOutcome {
    log.warn({ src: request.src.name, dst: request.dst.name, reason, message }, 'test failed');
    return {
      ok: false,
      failure: {
        connectivity: 0,
        reason,
        message,
        test: request.test,
        host: request.dst.address,
        exitCode: null,
        signal: null,
        stderrTail: '',
        startTime: started.toISOString(),
        durationSeconds: (Date.now() - started.getTime()) / 1000,
      },
      src: request.src.name,
      dst: request.dst.name,
    };
  }

  /**
   * Polls the pod until `goal` or the timeout, and every NODE_CHECK_MS the
   * test's `nodes` (node-lost: one is deleted or not Ready); rejects with the
   * signal's reason once it aborts.
   */
  private async waitFor(
    pod: V1Pod,
    goal: Goal,
    timeoutSeconds: number,
    nodes: readonly string[],
    signal?: AbortSignal,
  ): Promise<PodState> {
    const name = pod.metadata?.name as string;
    const deadline = Date.now() + timeoutSeconds * 1000;
    let last: PodState = { kind: 'stuck', reason: 'not yet seen' };
    let nodesSeen = Date.now();
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      last = await this.state(name, goal);
      if (last.kind !== 'stuck') return last;
      if (Date.now() - nodesSeen >= NODE_CHECK_MS) {
        nodesSeen = Date.now();
        const lost = await this.lostNode(nodes);
        if (lost !== undefined) return lost;
      }
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 250));
    }
    return last;
  }

  /** The first of `nodes` that is gone or not Ready, as the probe judges nodes before a test. */
  private async lostNode(nodes: readonly string[]): Promise<PodState | undefined> {
    for (const node of nodes) {
      // A list narrowed to the node: the probe's RBAC lists nodes, it does not get them.
      const list = await withApiRetry(`read node ${node}`, () =>
        this.core.listNode({ fieldSelector: `metadata.name=${node}` }),
      );
      const found = list.items[0];
      if (found === undefined) return { kind: 'node-lost', node, gone: true };
      if (found.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True')
        return { kind: 'node-lost', node, gone: false };
    }
    return undefined;
  }

  private async state(name: string, goal: Goal): Promise<PodState> {
    let pod: V1Pod;
    try {
      pod = await withApiRetry(`read pod ${name}`, () =>
        this.core.readNamespacedPod({ name, namespace: this.options.namespace }),
      );
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return { kind: 'gone' };
      throw err;
    }
    const phase = pod.status?.phase;
    if (goal === 'started' && (phase === 'Running' || phase === 'Succeeded' || phase === 'Failed'))
      return { kind: 'ready', pod };
    if (phase === 'Succeeded' || phase === 'Failed')
      return goal === 'done' ? { kind: 'done', pod } : { kind: 'stuck', reason: `ended (${phase})` };
    const statuses = pod.status?.containerStatuses ?? [];
    if (goal === 'ready' && phase === 'Running' && statuses.length > 0 && statuses.every((s) => s.ready)) {
      return { kind: 'ready', pod };
    }
    const exited = goal === 'ready' ? statuses.find((s) => s.state?.terminated) : undefined;
    if (exited !== undefined) return { kind: 'failed', reason: exitedReason(exited) };
    const waiting = statuses.find((s) => s.state?.waiting)?.state?.waiting;
    return {
      kind: 'stuck',
      reason: waiting ? `${waiting.reason}: ${waiting.message ?? ''}`.trim() : `phase ${phase ?? 'Pending'}`,
    };
  }

  /**
   * Deletes pods and waits until their kubelet has stopped their containers
   * and removed them: a test's server pod on the host network listens on
   * fixed ports, and the next test's pods must not start beside it. A pod
   * whose kubelet does not confirm in time (its node is down) is force-deleted;
   * an `orphaned` one (its Node deleted) at once, as the pod GC would.
   */
  private async deletePods(
    names: readonly string[],
    orphaned: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    const pending: string[] = [];
    for (const name of names) {
      if (orphaned.has(name)) await this.deletePod(name, 0);
      else if (await this.deletePod(name, undefined)) pending.push(name);
    }
    const deadline = Date.now() + POD_GONE_TIMEOUT_SECONDS * 1000;
    let left = pending;
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 250));
      left = (await Promise.all(left.map(async (name) => ((await this.exists(name)) ? [name] : [])))).flat();
    }
    if (left.length === 0) return;
    log.warn(
      { pods: left, seconds: POD_GONE_TIMEOUT_SECONDS },
      'pods not removed by their kubelet in time (node down?): force-deleted',
    );
    for (const name of left) await this.deletePod(name, 0);
  }

  /** Deletes one pod (with the given grace period; undefined: the pod's own); false when it was not there. */
  private async deletePod(name: string, gracePeriodSeconds: number | undefined): Promise<boolean> {
    try {
      await withApiRetry(`delete pod ${name}`, () =>
        this.core.deleteNamespacedPod({
          name,
          namespace: this.options.namespace,
          ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
        }),
      );
      return true;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404))
        log.warn({ pod: name, err: errorLine(err) }, 'pod not deleted');
      return false;
    }
  }

  private async exists(name: string): Promise<boolean> {
    try {
      await this.core.readNamespacedPod({ name, namespace: this.options.namespace });
      return true;
    } catch (err) {
      // Any other error: not known to be gone, ask again.
      return !(err instanceof ApiException && err.code === 404);
    }
  }
}

const POD_SECURITY_LABEL = 'pod-security.kubernetes.io/enforce';

/**
 * The API server's 403 for a pod that Pod Security admission refuses:
 * `pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`.
 * The level is the value of the namespace's enforce label.
 */
export function podSecurityRefusal(err: unknown): { level: string; message: string } | undefined {
  if (!(err instanceof ApiException) || err.code !== 403) return undefined;
  let body: unknown = err.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // A plain-text body: the text is the message.
    }
  }
  const message =
    typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string'
      ? (body as { message: string }).message
      : String(body);
  const level = /violates PodSecurity "([a-z]+)(?::[^"]*)?"/.exec(message)?.[1];
  return level === undefined ? undefined : { level, message };
}

/**
 * Why a server container exited, from its termination message (the log's
 * tail). A server on the host network that cannot listen found its port
 * taken on the node by something that is not a pod: say which setting moves it.
 */
function exitedReason(status: V1ContainerStatus): string {
  const terminated = status.state?.terminated;
  const text = (terminated?.message ?? '').trim().split('\n').slice(-3).join(' ').slice(0, 300);
  const exit = `${status.name} exited ${terminated?.exitCode ?? '?'}${text === '' ? '' : `: ${text}`}`;
  // irtt and Go say "address already in use"; netserver "Unable to start netserver with ... port".
  if (!/address already in use|unable to start netserver/i.test(text)) return exit;
  const program = status.name === 'irtt' ? 'irtt' : 'netserver';
  return `${exit}; its port is taken on the node: choose a free one with the chart value ports.${program} (${program === 'irtt' ? 'NETMON_IRTT_PORT' : 'NETMON_NETSERVER_PORT'})`;
}

function describe(state: PodState): string {
  switch (state.kind) {
    case 'stuck':
      return `not ready in time (${state.reason})`;
    case 'failed':
      return state.reason;
    case 'gone':
      return 'deleted before it finished';
    case 'node-lost':
      return state.gone ? `node ${state.node} is gone` : `node ${state.node} is not Ready`;
    default:
      return state.kind;
  }
}
