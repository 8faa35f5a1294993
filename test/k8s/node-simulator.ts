import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Container,
  type V1ContainerStatus,
  type V1EnvVar,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import type { SimCluster, SimNode } from '../../infra/rig/sim-cluster.ts';
import { errorLine } from '../../layers/core/errors.ts';
import { log } from '../../layers/core/log.ts';
import { type ManagedProcess, runProcess, startProcess } from '../../layers/core/process.ts';
import { forWrite } from '../../layers/k8s/lease.ts';

/**
 * Test-only kubelet for the simulated cluster: registers a Node per rig
 * namespace (InternalIP, zone/region labels, Ready, Lease heartbeats) and runs
 * the containers of pods bound to those nodes as processes inside the node's
 * namespace. It knows only the images in its table; any other image stays
 * Waiting (ErrImagePull), as a real kubelet would when the pull fails.
 *
 * Simplifications, all deliberate: no pod network (podIP is the node's
 * address); securityContext is not enforced (processes run as root); the
 * termination message file is a per-container temp file, and any env value
 * equal to the container's terminationMessagePath is pointed at it.
 */

/** Turns a container's command into local argv; undefined when the image is unknown. */
export type ImageTable = Record<string, (command: readonly string[]) => string[]>;

interface RunningContainer {
  name: string;
  process: ManagedProcess;
  terminationFile: string;
  readyPort: number | undefined;
  status: V1ContainerStatus;
}

interface PodRun {
  uid: string;
  startedAt: Date;
  containers: RunningContainer[];
  dir: string;
  finished: boolean;
}

const HEARTBEAT_MS = 5000;
const POD_POLL_MS = 200;

export class NodeSimulator {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly cluster: SimCluster;
  private readonly images: ImageTable;
  private readonly notReady = new Set<string>();
  private readonly vanished = new Set<string>();
  private readonly pullsFail = new Set<string>();
  private readonly runs = new Map<string, PodRun>();
  private timers: NodeJS.Timeout[] = [];
  private polling = false;

  constructor(kubeconfig: KubeConfig, cluster: SimCluster, images: ImageTable) {
    this.core = kubeconfig.makeApiClient(CoreV1Api);
    this.coordination = kubeconfig.makeApiClient(CoordinationV1Api);
    this.cluster = cluster;
    this.images = images;
  }

  async start(): Promise<void> {
    await this.ensureNamespace('kube-node-lease');
    for (const node of this.cluster.nodes) await this.register(node);
    this.timers.push(
      setInterval(
        () => void this.heartbeat().catch((err) => log.warn({ err: errorLine(err) }, 'heartbeat failed')),
        HEARTBEAT_MS,
      ),
    );
    this.timers.push(setInterval(() => void this.pollPods(), POD_POLL_MS));
  }

  /** Marks a node NotReady (or Ready again). */
  async setReady(name: string, ready: boolean): Promise<void> {
    if (ready) this.notReady.delete(name);
    else this.notReady.add(name);
    await this.updateNodeStatus(this.cluster.node(name));
  }

  /** Makes every image pull on a node fail (a registry it cannot reach), or work again. */
  setImagePulls(name: string, work: boolean): void {
    if (work) this.pullsFail.delete(name);
    else this.pullsFail.add(name);
  }

  /** Deletes the Node object and stops serving it, as when a machine disappears. */
  async vanish(name: string): Promise<void> {
    this.vanished.add(name);
    await this.core.deleteNode({ name }).catch(() => undefined);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    for (const [key, run] of this.runs) {
      await Promise.all(run.containers.map((c) => c.process.stop()));
      await rm(run.dir, { recursive: true, force: true });
      this.runs.delete(key);
    }
    for (const node of this.cluster.nodes)
      await this.core.deleteNode({ name: node.name }).catch(() => undefined);
  }

  private async ensureNamespace(name: string): Promise<void> {
    try {
      await this.core.createNamespace({ body: { metadata: { name } } });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) throw err;
    }
  }

  private nodeObject(node: SimNode): V1Node {
    const now = new Date();
    const ready = !this.notReady.has(node.name);
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node.name, labels: { 'kubernetes.io/hostname': node.name, ...node.labels } },
      status: {
        addresses: [
          { type: 'InternalIP', address: node.address },
          { type: 'Hostname', address: node.name },
        ],
        conditions: [
          {
            type: 'Ready',
            status: ready ? 'True' : 'False',
            reason: ready ? 'KubeletReady' : 'SimulatedNotReady',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
      },
    };
  }

  private async register(node: SimNode): Promise<void> {
    try {
      await this.core.createNode({ body: this.nodeObject(node) });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) throw err;
    }
    await this.updateNodeStatus(node);
  }

  private async updateNodeStatus(node: SimNode): Promise<void> {
    if (this.vanished.has(node.name)) return;
    const current = await this.core.readNode({ name: node.name });
    await this.core.replaceNodeStatus({
      name: node.name,
      body: { ...current, status: { ...current.status, ...this.nodeObject(node).status } },
    });
  }

  private async heartbeat(): Promise<void> {
    for (const node of this.cluster.nodes) {
      if (this.vanished.has(node.name)) continue;
      await this.updateNodeStatus(node);
      await this.renewNodeLease(node.name);
    }
  }

  private async renewNodeLease(name: string): Promise<void> {
    const namespace = 'kube-node-lease';
    const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date() };
    try {
      const lease = await this.coordination.readNamespacedLease({ name, namespace });
      await this.coordination.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: forWrite({ ...lease.spec, ...spec }) },
      });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
      await this.coordination.createNamespacedLease({
        namespace,
        body: { metadata: { name }, spec: forWrite(spec) },
      });
    }
  }

  private ours(pod: V1Pod): SimNode | undefined {
    const nodeName = pod.spec?.nodeName;
    if (nodeName === undefined || this.vanished.has(nodeName)) return undefined;
    return this.cluster.nodes.find((n) => n.name === nodeName);
  }

  private async pollPods(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const pods = await this.core.listPodForAllNamespaces({});
      const seen = new Set<string>();
      for (const pod of pods.items) {
        const node = this.ours(pod);
        if (node === undefined) continue;
        const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
        seen.add(key);
        await this.syncPod(key, pod, node).catch((err) =>
          log.warn({ pod: key, err: errorLine(err) }, 'pod sync failed'),
        );
      }
      for (const [key, run] of this.runs) {
        if (!seen.has(key)) await this.forget(key, run);
      }
    } catch (err) {
      log.warn({ err: errorLine(err) }, 'pod poll failed');
    } finally {
      this.polling = false;
    }
  }

  private async forget(key: string, run: PodRun): Promise<void> {
    this.runs.delete(key);
    await Promise.all(run.containers.map((c) => c.process.stop()));
    await rm(run.dir, { recursive: true, force: true });
  }

  private async syncPod(key: string, pod: V1Pod, node: SimNode): Promise<void> {
    const name = pod.metadata?.name as string;
    const namespace = pod.metadata?.namespace as string;
    if (pod.metadata?.deletionTimestamp) {
      const run = this.runs.get(key);
      if (run) await this.forget(key, run);
      await this.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
      return;
    }
    let run = this.runs.get(key);
    if (run === undefined || run.uid !== pod.metadata?.uid) {
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
      const started = await this.startPod(pod, node);
      if (started === undefined) return;
      run = started;
      this.runs.set(key, run);
    }
    if (run.finished) return;
    await this.updatePodStatus(pod, node, run);
  }

  /** Starts every container; an unknown image leaves the pod Waiting with ErrImagePull. */
  private async startPod(pod: V1Pod, node: SimNode): Promise<PodRun | undefined> {
    const containers = pod.spec?.containers ?? [];
    const pullsFail = this.pullsFail.has(node.name);
    const argvs = containers.map((c) => (pullsFail ? undefined : this.translate(c)));
    if (argvs.some((argv) => argv === undefined)) {
      const bad = containers.find((_, i) => argvs[i] === undefined);
      const why = pullsFail
        ? `pulling ${bad?.image} failed on node ${node.name} (registry unreachable, simulated)`
        : `image ${bad?.image} is not in the simulator's table`;
      await this.writeStatus(pod, {
        phase: 'Pending',
        containerStatuses: containers.map((c) => ({
          name: c.name,
          image: c.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: {
            waiting: {
              reason: 'ErrImagePull',
              message: why,
            },
          },
        })),
      });
      return undefined;
    }
    const dir = await mkdtemp(join(tmpdir(), 'netmon-pod-'));
    const running: RunningContainer[] = [];
    for (const [i, container] of containers.entries()) {
      const terminationFile = join(dir, `${container.name}.termination-log`);
      const env = await this.resolveEnv(pod, node, container, terminationFile);
      const argv = [...this.cluster.prefix(node.name), ...(argvs[i] as string[])];
      const process = startProcess(argv, {
        env: { PATH: globalThis.process.env.PATH, HOME: dir, ...env },
        cwd: dir,
      });
      running.push({
        name: container.name,
        process,
        terminationFile,
        readyPort: container.readinessProbe?.tcpSocket?.port as number | undefined,
        status: {
          name: container.name,
          image: container.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: new Date() } },
        },
      });
    }
    return { uid: pod.metadata?.uid ?? '', startedAt: new Date(), containers: running, dir, finished: false };
  }

  private translate(container: V1Container): string[] | undefined {
    const image = container.image ?? '';
    const entry = Object.entries(this.images).find(([pattern]) =>
      pattern.endsWith('*') ? image.startsWith(pattern.slice(0, -1)) : image === pattern,
    );
    if (entry === undefined) return undefined;
    return entry[1]([...(container.command ?? []), ...(container.args ?? [])]);
  }

  private async resolveEnv(
    pod: V1Pod,
    node: SimNode,
    container: V1Container,
    terminationFile: string,
  ): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    const path = container.terminationMessagePath ?? '/dev/termination-log';
    for (const variable of container.env ?? []) {
      const value = await this.envValue(pod, node, variable);
      if (value !== undefined) env[variable.name] = value === path ? terminationFile : value;
    }
    return env;
  }

  private async envValue(pod: V1Pod, node: SimNode, variable: V1EnvVar): Promise<string | undefined> {
    if (variable.value !== undefined) return variable.value;
    const field = variable.valueFrom?.fieldRef?.fieldPath;
    if (field !== undefined) {
      const fields: Record<string, string | undefined> = {
        'metadata.name': pod.metadata?.name,
        'metadata.namespace': pod.metadata?.namespace,
        'spec.nodeName': node.name,
        'status.podIP': node.address,
        'status.hostIP': node.address,
      };
      return fields[field];
    }
    const secretRef = variable.valueFrom?.secretKeyRef;
    if (secretRef?.name !== undefined) {
      const secret = await this.core.readNamespacedSecret({
        name: secretRef.name,
        namespace: pod.metadata?.namespace ?? 'default',
      });
      const data = secret.data?.[secretRef.key];
      return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
    }
    return undefined;
  }

  private async updatePodStatus(pod: V1Pod, node: SimNode, run: PodRun): Promise<void> {
    const deadline = pod.spec?.activeDeadlineSeconds;
    const overdue = deadline !== undefined && Date.now() - run.startedAt.getTime() > deadline * 1000;
    if (overdue) await Promise.all(run.containers.map((c) => c.process.stop()));
    for (const container of run.containers) await this.refreshContainer(container, node, run);
    const statuses = run.containers.map((c) => c.status);
    const terminated = statuses.every((s) => s.state?.terminated !== undefined);
    const failed = statuses.some((s) => (s.state?.terminated?.exitCode ?? 0) !== 0);
    const phase = terminated ? (failed || overdue ? 'Failed' : 'Succeeded') : 'Running';
    if (terminated) run.finished = true;
    await this.writeStatus(pod, {
      phase,
      ...(overdue ? { reason: 'DeadlineExceeded' } : {}),
      podIP: node.address,
      podIPs: [{ ip: node.address }],
      hostIP: node.address,
      startTime: run.startedAt,
      containerStatuses: statuses,
    });
  }

  private async refreshContainer(container: RunningContainer, node: SimNode, run: PodRun): Promise<void> {
    if (container.process.running) {
      container.status.ready =
        container.readyPort === undefined ||
        (await listening(this.cluster.prefix(node.name), container.readyPort));
      return;
    }
    if (container.status.state?.terminated !== undefined) return;
    const result = await container.process.done;
    const written = await readFile(container.terminationFile, 'utf8').catch(() => '');
    // FallbackToLogsOnError: the log tail stands in for a missing message of a failed container.
    const fallback = result.exitCode !== 0 ? (result.stderr || result.stdout).slice(-2048) : '';
    container.status = {
      ...container.status,
      ready: false,
      started: false,
      state: {
        terminated: {
          exitCode: result.exitCode ?? 137,
          reason: result.exitCode === 0 ? 'Completed' : 'Error',
          message: (written || fallback).slice(0, 4096),
          startedAt: run.startedAt,
          finishedAt: new Date(),
        },
      },
    };
  }

  private async writeStatus(pod: V1Pod, status: NonNullable<V1Pod['status']>): Promise<void> {
    const name = pod.metadata?.name as string;
    const namespace = pod.metadata?.namespace as string;
    try {
      const current = await this.core.readNamespacedPod({ name, namespace });
      await this.core.replaceNamespacedPodStatus({
        name,
        namespace,
        body: { ...current, status: { ...current.status, ...status } },
      });
    } catch (err) {
      if (!(err instanceof ApiException && (err.code === 404 || err.code === 409))) throw err;
    }
  }
}

async function listening(prefix: string[], port: number): Promise<boolean> {
  const result = await runProcess([...prefix, 'ss', '-Hltn', 'sport', '=', `:${port}`], { timeoutMs: 5000 });
  return result.stdout.trim() !== '';
}
