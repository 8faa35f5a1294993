import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { isRoot, missingPrograms } from '../../layers/core/host.ts';
import { log } from '../../layers/core/log.ts';
import { waitFor } from '../../layers/core/process.ts';
import { onShutdown } from '../../layers/core/shutdown.ts';
import { flentImage } from '../images/flent/image.ts';
import { SimCluster, type SimNodeSpec } from '../rig/sim-cluster.ts';
import { type Binary, cachedBinary } from './binaries.ts';
import { cgroupPids, childrenOf, createCgroup, moveToCgroup } from './cgroups.ts';
import { sweepStaleClusters, teardownCluster } from './cleanup.ts';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { type Daemon, startDaemon } from './daemon.ts';
import {
  CLUSTER_DOMAIN,
  exposeStack,
  pssMiB,
  STACK_NAMESPACE,
  startClusterDns,
  waitForClusterDns,
} from './dns.ts';
import { ClusterError } from './errors.ts';
import { archiveImage, busyboxImage, importImages, type LocalImage, pauseImage } from './images.ts';
import { type ClusterLayout, clusterLayout, newState, POD_NETWORK, startTicksOf } from './layout.ts';
import {
  addNodeRoutes,
  clientKubeconfig,
  configureNodeSysctls,
  createUtsNamespace,
  issueClientCertificate,
  issueNodeCertificate,
  KUBE_PROXY_HEALTHZ_PORT,
  type NodeSpec,
  prepareNode,
  startContainerd,
  startKubelet,
  startKubeProxy,
} from './node.ts';
import { type ClusterEndpoints, type ClusterStack, startClusterStack } from './stack.ts';

/**
 * The local real cluster: the control plane (etcd + kube-apiserver), the
 * scheduler and the controller-manager on the host, and N nodes, each a
 * network namespace of the simulated cluster rig (one bridge, tbf rates,
 * cuts) running containerd, a kubelet and kube-proxy (Services, the
 * kubernetes one included, work as on real nodes). One process, the supervisor, owns
 * it all: it starts everything here and removes everything on SIGTERM; its
 * pid is in every name, so a crash leaves nothing that `cluster down` or the
 * next `cluster up` cannot find.
 */

export const MIN_NODES = 2;
export const MAX_NODES = 8;
const MBIT = 1e6;
/** Where the chart goes (`helm install ... -n netmon`): the cluster makes it, with the stack's S3 credentials. */
export const CHART_NAMESPACE = 'netmon';
export const S3_CREDENTIALS_SECRET = 'netmon-local-s3';
const NODES_READY_MS = 120_000;
const CONTROLLERS_READY_MS = 60_000;

/** Debian packages of the programs the cluster runs (infra/system/packages.txt). */
const REQUIRED_PROGRAMS: Record<string, string> = {
  containerd: 'containerd',
  'containerd-shim-runc-v2': 'containerd',
  ctr: 'containerd',
  runc: 'runc',
  iptables: 'iptables',
  nsenter: 'util-linux',
  unshare: 'util-linux',
  umount: 'mount',
};
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap'];

export interface ClusterOptions {
  out: string;
  nodes: number;
  /** Egress rate of each node in Mbit/s; default 10 * (i + 1), as the demo. */
  ratesMbit?: readonly number[] | undefined;
  /** Ordered pairs [src, dst] whose src->dst traffic is dropped. */
  cuts?: ReadonlyArray<readonly [string, string]>;
  /** Build (or find) the Flent image from its Dockerfile and import it into every node; default true. */
  flentImage?: boolean | undefined;
  /** More images for every node: docker-archive tars. */
  images?: readonly string[] | undefined;
  /** Run the embedded stack (S3, SQS, Pushgateway, Prometheus) for the pods; default true. */
  stack?: boolean | undefined;
  /** Human progress: one line per step. */
  progress?: (line: string) => void;
}

export interface ClusterNodeInfo {
  name: string;
  address: string;
  netns: string;
  podCidr: string;
  rateBitsPerSecond: number | undefined;
  labels: Record<string, string>;
  containerdSocket: string;
  containerdPid: number;
  kubeletPid: number;
  logs: { containerd: string; kubelet: string };
}

/** DIR/cluster.json */
export interface ClusterInfo {
  kubeconfig: string;
  values: string;
  nodes: ClusterNodeInfo[];
  /**
   * The API server, and the embedded stack's services as the nodes and the
   * host reach them (addresses); `inCluster`: the same by their Service names
   * (netmon-stack), as pods reach them and values.yaml names them.
   */
  endpoints: { kubernetes: string; inCluster?: ClusterEndpoints } & Partial<ClusterEndpoints>;
  /** CoreDNS on the host: the server in pods' resolv.conf, the cluster domain, its memory (PSS) when ready. */
  dns: { server: string; domain: string; pid: number; log: string; memoryMiB: number };
  supervisor: { pid: number; log: string };
  /** The API server's audit log: every request of a service account (who, verb, resource, answer). */
  auditLog: string;
  images: string[];
  startup: {
    seconds: number;
    cold: boolean;
    built: string[];
    /** Proportional set size of each node's containerd, kubelet and kube-proxy when Ready, mean over nodes. */
    memoryPerNodeMiB: number;
  };
}

export function nodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `node-${i + 1}`);
}

/** Throws a ClusterError naming what this host lacks: root, programs, CNI plugins. */
export async function checkClusterHost(): Promise<void> {
  if (!isRoot()) {
    throw new ClusterError(
      'the local real cluster needs root: it creates network namespaces, cgroups and mounts, and runs containerd and kubelets (run it as root, e.g. sudo)',
    );
  }
  const missing = missingPrograms(Object.keys(REQUIRED_PROGRAMS));
  const plugins = await Promise.all(
    CNI_PLUGINS.map(async (p) => ((await readFile(`/usr/lib/cni/${p}`).catch(() => undefined)) ? [] : [p])),
  );
  const packages = new Set(missing.map((p) => REQUIRED_PROGRAMS[p] ?? p));
  if (plugins.flat().length > 0) packages.add('containernetworking-plugins');
  if (packages.size > 0) {
    throw new ClusterError(
      `the local real cluster needs ${[...missing, ...plugins.flat().map((p) => `/usr/lib/cni/${p}`)].join(', ')}: install ${[...packages].join(' ')} (bash infra/system/install.sh installs all system packages)`,
    );
  }
}

function simNodes(names: readonly string[], ratesMbit: readonly number[] | undefined): SimNodeSpec[] {
  return names.map((name, i) => ({
    name,
    rateBitsPerSecond: (ratesMbit?.[i] ?? 10 * (i + 1)) * MBIT,
    zone: `zone-${i % 2 === 0 ? 'a' : 'b'}`,
    region: 'sim',
  }));
}

export class LocalCluster {
  readonly layout: ClusterLayout;
  private sim: SimCluster | undefined;
  private controlPlane: ControlPlane | undefined;
  private stack: ClusterStack | undefined;
  private readonly daemons: Daemon[] = [];
  private unregister: (() => void) | undefined;
  private stopped: Promise<void> | undefined;

  private constructor(layout: ClusterLayout) {
    this.layout = layout;
  }

  /**
   * Builds and starts the cluster in this process, which becomes its owner,
   * and waits until every node is Ready and the controllers work. On any
   * failure everything started so far is removed.
   */
  static async up(options: ClusterOptions): Promise<{ cluster: LocalCluster; info: ClusterInfo }> {
    const started = performance.now();
    const say = (line: string): void => {
      log.info({ step: line }, 'cluster');
      options.progress?.(`${line} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    };
    await checkClusterHost();
    const swept = await sweepStaleClusters();
    if (swept.length > 0) say(`removed ${swept.length} cluster(s) of crashed supervisors`);
    const names = nodeNames(options.nodes);
    const layout = clusterLayout(process.pid, options.out, names);
    const cluster = new LocalCluster(layout);
    // Before anything exists: the state says what to remove, even after a crash.
    const owner = { pid: process.pid, startTicks: (await startTicksOf(process.pid)) ?? 0 };
    const state = `${JSON.stringify(newState(owner, options.out, names))}\n`;
    for (const file of [layout.stateFile, join(options.out, 'state.json')]) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, state);
    }
    cluster.unregister = onShutdown(`local cluster ${process.pid}`, () => cluster.down({ removeOut: false }));
    try {
      const info = await cluster.start(options, say, started);
      return { cluster, info };
    } catch (err) {
      await cluster.down({ removeOut: false });
      throw err;
    }
  }

  private async start(
    options: ClusterOptions,
    say: (line: string) => void,
    started: number,
  ): Promise<ClusterInfo> {
    const { layout } = this;
    const progress = options.progress;
    const buildOutput = (text: string): void => {
      for (const line of text.split('\n').filter(Boolean)) progress?.(line);
    };
    const binaries: Record<'control-plane' | 'hyperkube' | 'pause' | 'netget' | 'coredns', Binary> = {
      'control-plane': await cachedBinary('control-plane', buildOutput),
      hyperkube: await cachedBinary('hyperkube', buildOutput),
      pause: await cachedBinary('pause', buildOutput),
      netget: await cachedBinary('netget', buildOutput),
      coredns: await cachedBinary('coredns', buildOutput),
    };
    // The Flent image is tagged as the chart's default image: the chart runs it without values for it.
    const flent = options.flentImage === false ? [] : [await flentImage({ progress: buildOutput })];
    const images: LocalImage[] = [
      await pauseImage(binaries.pause.path),
      await busyboxImage(binaries.netget.path),
      ...flent,
      ...(await Promise.all((options.images ?? []).map((archive) => archiveImage(archive)))),
    ];
    const built = [
      ...Object.entries(binaries)
        .filter(([, b]) => b.built)
        .map(([name]) => name),
      ...images.filter((i) => i.built).map((i) => i.ref),
    ];
    say(built.length > 0 ? `built ${built.join(', ')}` : 'binaries and images cached');

    this.sim = await SimCluster.create({
      nodes: simNodes(
        layout.nodes.map((n) => n.name),
        options.ratesMbit,
      ),
      cuts: options.cuts ?? [],
      hostAddress: true,
    });
    const sim = this.sim;
    const hostAddress = sim.hostAddress;
    if (hostAddress === undefined) throw new ClusterError('the rig gave the host no address on the bridge');
    say(`network: ${sim.nodes.length} namespaces on a bridge, host ${hostAddress}`);
    await createCgroup(layout.controlCgroup);
    const specs: NodeSpec[] = layout.nodes.map((node) => {
      const simNode = sim.node(node.name);
      return {
        layout: node,
        netns: simNode.netns,
        address: simNode.address,
        labels: simNode.labels,
        clusterDns: hostAddress,
      };
    });

    const hyperkube = binaries.hyperkube.path;
    // The control plane, the nodes' runtimes and the stack start side by side. All three are
    // settled before going on, so that down() finds whatever started even when another failed.
    const [controlPlaneResult, runtimesResult, stackResult] = await Promise.allSettled([
      startControlPlane({
        dir: layout.controlPlaneDir,
        bindAddress: hostAddress,
        auditLog: layout.auditLog,
        apiserverArgs: [
          // Kubelets register their node address, not a resolvable host name.
          '--kubelet-preferred-address-types=InternalIP',
          // The kubernetes Service's endpoint is the API server's bridge address: pods reach it through kube-proxy.
          '--endpoint-reconciler-type=lease',
        ],
      }).then((cp) => {
        this.controlPlane = cp;
        say(`control plane ready at ${cp.server}`);
        return cp;
      }),
      Promise.all(specs.map((spec) => this.startRuntime(spec, specs, hostAddress, hyperkube, images))).then(
        (all) => {
          say(`containerd ready on ${all.length} nodes, images imported`);
          return all;
        },
      ),
      options.stack === false
        ? Promise.resolve(undefined)
        : startClusterStack(join(layout.out, 'stack'), hostAddress).then((started) => {
            this.stack = started;
            say(`embedded stack ready: S3 ${started.endpoints.s3}, SQS ${started.endpoints.sqs}`);
            return started;
          }),
    ]);
    for (const result of [controlPlaneResult, runtimesResult, stackResult]) {
      if (result.status === 'rejected') throw result.reason;
    }
    const controlPlane = (controlPlaneResult as PromiseFulfilledResult<ControlPlane>).value;
    const containerds = (runtimesResult as PromiseFulfilledResult<Daemon[]>).value;
    // The control plane and the stack's Prometheus and Pushgateway are our children but not
    // started through `launch`: into the cluster's cgroup with them, so a crash leaves none running.
    await adoptChildren(layout.hostCgroup);
    await copyFile(controlPlane.kubeconfigPath, layout.kubeconfig);
    await this.startControllers(controlPlane, hyperkube);
    const coredns = await startClusterDns({
      coredns: binaries.coredns.path,
      hyperkube,
      address: hostAddress,
      kubeconfig: layout.kubeconfig,
      cgroup: layout.controlCgroup,
      out: layout.out,
    });
    this.daemons.push(coredns);
    // Before kube-proxy starts: its first sync, which waitReady waits for, has their rules.
    const inCluster =
      this.stack === undefined ? undefined : await exposeStack(controlPlane.kubeconfig, this.stack.endpoints);

    const pki = join(layout.controlPlaneDir, 'pki');
    const caFile = join(pki, 'ca.crt');
    const proxyKubeconfig = await this.kubeProxyKubeconfig(
      binaries['control-plane'].path,
      controlPlane.server,
    );
    const kubelets = await Promise.all(
      specs.map(async (spec) => {
        const cert = await issueNodeCertificate(binaries['control-plane'].path, pki, spec.layout);
        const kubelet = await startKubelet(spec, hyperkube, controlPlane.server, caFile, cert);
        this.daemons.push(kubelet);
        this.daemons.push(await startKubeProxy(spec, hyperkube, proxyKubeconfig, POD_NETWORK));
        return kubelet;
      }),
    );
    await Promise.all([
      this.waitReady(controlPlane.kubeconfig, specs),
      waitForClusterDns(coredns, hostAddress, controlPlane.kubeconfig).then(() =>
        say(
          `cluster DNS (CoreDNS) on ${hostAddress}:53 serves ${CLUSTER_DOMAIN}${inCluster === undefined ? '' : `, the stack as Services in ${STACK_NAMESPACE}`}`,
        ),
      ),
    ]);
    say(`${specs.length} nodes Ready, Services served, scheduler and controller-manager leading`);
    if (this.stack !== undefined) await chartNamespace(controlPlane.kubeconfig, this.stack);

    const seconds = (performance.now() - started) / 1000;
    const info: ClusterInfo = {
      kubeconfig: layout.kubeconfig,
      values: layout.values,
      nodes: specs.map((spec, i) => {
        const simNode = sim.node(spec.layout.name);
        return {
          name: spec.layout.name,
          address: spec.address,
          netns: spec.netns,
          podCidr: spec.layout.podCidr,
          rateBitsPerSecond: simNode.rateBitsPerSecond,
          labels: spec.labels,
          containerdSocket: spec.layout.socket,
          containerdPid: containerds[i]?.pid ?? 0,
          kubeletPid: kubelets[i]?.pid ?? 0,
          logs: { containerd: spec.layout.containerdLog, kubelet: spec.layout.kubeletLog },
        };
      }),
      endpoints: {
        kubernetes: controlPlane.server,
        ...this.stack?.endpoints,
        ...(inCluster === undefined ? {} : { inCluster }),
      },
      dns: {
        server: hostAddress,
        domain: CLUSTER_DOMAIN,
        pid: coredns.pid,
        log: coredns.log,
        memoryMiB: Math.round(await pssMiB(coredns.pid)),
      },
      supervisor: { pid: process.pid, log: layout.supervisorLog },
      auditLog: layout.auditLog,
      images: images.map((i) => i.ref),
      startup: {
        seconds: Math.round(seconds * 10) / 10,
        cold: built.length > 0,
        built,
        memoryPerNodeMiB: Math.round(await meanNodeMemoryMiB(layout)),
      },
    };
    await writeFile(layout.values, valuesYaml(inCluster));
    await writeFile(layout.clusterJson, `${JSON.stringify(info, null, 2)}\n`);
    return info;
  }

  /** containerd of one node, with its network, UTS namespace, routes and images. */
  private async startRuntime(
    spec: NodeSpec,
    all: readonly NodeSpec[],
    gateway: string,
    hyperkube: string,
    images: readonly LocalImage[],
  ): Promise<Daemon> {
    await prepareNode(spec.layout);
    await createCgroup(spec.layout.runtimeCgroup);
    await createUtsNamespace(spec.layout);
    await configureNodeSysctls(spec.netns);
    await addNodeRoutes(
      spec.netns,
      gateway,
      all.filter((s) => s !== spec).map((s) => ({ address: s.address, podCidr: s.layout.podCidr })),
    );
    const containerd = await startContainerd(spec, hyperkube);
    this.daemons.push(containerd);
    await importImages(spec.layout.socket, images);
    return containerd;
  }

  /** One identity for every kube-proxy: user system:kube-proxy, which the default RBAC binds to system:node-proxier. */
  private async kubeProxyKubeconfig(controlPlaneBinary: string, server: string): Promise<string> {
    const { layout } = this;
    await mkdir(layout.pki, { recursive: true });
    const cert = await issueClientCertificate(
      controlPlaneBinary,
      join(layout.controlPlaneDir, 'pki'),
      { name: 'system:kube-proxy', groups: [] },
      join(layout.pki, 'kube-proxy'),
    );
    const path = join(layout.pki, 'kube-proxy.kubeconfig');
    await writeFile(path, clientKubeconfig(server, join(layout.controlPlaneDir, 'pki', 'ca.crt'), cert));
    return path;
  }

  /**
   * kube-scheduler and kube-controller-manager as the admin (system:masters):
   * a local cluster gains nothing from their narrower identities. Leader
   * election is on, because its Leases are how we see that they work.
   * No serving port: nothing scrapes them, and fixed ports would collide
   * between clusters on one host.
   */
  private async startControllers(controlPlane: ControlPlane, hyperkube: string): Promise<void> {
    const { layout } = this;
    const pki = join(layout.controlPlaneDir, 'pki');
    const kubeconfig = layout.kubeconfig;
    const common = [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--leader-elect=true',
    ];
    const launch = [
      hyperkube,
      'launch',
      '--cgroup',
      layout.controlCgroup,
      '--parent',
      String(process.pid),
      '--',
    ];
    this.daemons.push(
      await startDaemon(
        'kube-scheduler',
        [...launch, hyperkube, 'kube-scheduler', ...common],
        join(layout.out, 'kube-scheduler.log'),
      ),
      await startDaemon(
        'kube-controller-manager',
        [
          ...launch,
          hyperkube,
          'kube-controller-manager',
          ...common,
          `--service-account-private-key-file=${join(pki, 'sa.key')}`,
          `--root-ca-file=${join(pki, 'ca.crt')}`,
          `--cluster-signing-cert-file=${join(pki, 'ca.crt')}`,
          `--cluster-signing-key-file=${join(pki, 'ca.key')}`,
          '--use-service-account-credentials=false',
          // A node whose kubelet stops is NotReady after 20 s, not 50 (kubelets renew their Lease every 10 s).
          '--node-monitor-grace-period=20s',
          '--node-monitor-period=2s',
        ],
        join(layout.out, 'kube-controller-manager.log'),
      ),
    );
    log.debug({ server: controlPlane.server }, 'scheduler and controller-manager started');
  }

  /**
   * Every node Ready; every kube-proxy healthy (its rules are in place); the
   * controller-manager made the default service account; both controllers
   * hold their Lease.
   */
  private async waitReady(kubeconfig: KubeConfig, specs: readonly NodeSpec[]): Promise<void> {
    const count = specs.length;
    const core = kubeconfig.makeApiClient(CoreV1Api);
    const coordination = kubeconfig.makeApiClient(CoordinationV1Api);
    const failIfDown = (): void => {
      const down = this.daemons.find((d) => !d.running);
      if (down !== undefined) throw new ClusterError(`${down.name} exited during start-up: see ${down.log}`);
    };
    const readyNodes = async (): Promise<number> => {
      const list = await core.listNode();
      return list.items.filter((node) =>
        node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      ).length;
    };
    try {
      await waitFor(
        `${count} nodes Ready`,
        async () => {
          failIfDown();
          return (await readyNodes()) === count;
        },
        { timeoutMs: NODES_READY_MS, intervalMs: 200 },
      );
      await waitFor(
        'kube-proxy healthy on every node',
        async () => {
          failIfDown();
          const healthy = await Promise.all(specs.map((spec) => kubeProxyHealthy(spec.address)));
          return healthy.every(Boolean);
        },
        { timeoutMs: CONTROLLERS_READY_MS, intervalMs: 200 },
      );
      await waitFor(
        'the default service account and the controllers leases',
        async () => {
          failIfDown();
          const found = await Promise.all([
            core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }),
            coordination.readNamespacedLease({ name: 'kube-scheduler', namespace: 'kube-system' }),
            coordination.readNamespacedLease({ name: 'kube-controller-manager', namespace: 'kube-system' }),
          ]).then(
            () => true,
            () => false,
          );
          return found;
        },
        { timeoutMs: CONTROLLERS_READY_MS, intervalMs: 200 },
      );
    } catch (err) {
      if (err instanceof ClusterError) throw err;
      throw new ClusterError(
        `the cluster did not become ready: ${(err as Error).message}; see the logs in ${this.layout.out} (kubelet.log, containerd.log under nodes/, kube-*.log)`,
        { cause: err },
      );
    }
  }

  /** Removes everything of the cluster (see cleanup.ts). Idempotent. */
  down(options: { removeOut: boolean }): Promise<void> {
    this.stopped ??= (async () => {
      this.unregister?.();
      const started = performance.now();
      // The kubelets first: with them gone, nothing restarts what is stopped next.
      await Promise.all(this.daemons.filter((d) => d.name.startsWith('kubelet')).map((d) => d.stop(5_000)));
      const kubelets = performance.now();
      await this.controlPlane?.stop();
      await this.stack?.stop();
      const controlPlane = performance.now();
      await teardownCluster(this.layout, options);
      await this.sim?.destroy();
      log.info(
        {
          kubeletsMs: Math.round(kubelets - started),
          controlPlaneMs: Math.round(controlPlane - kubelets),
          totalMs: Math.round(performance.now() - started),
        },
        'cluster down',
      );
    })();
    return this.stopped;
  }
}

async function kubeProxyHealthy(address: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${address}:${KUBE_PROXY_HEALTHZ_PORT}/healthz`, {
      signal: AbortSignal.timeout(2_000),
    });
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Memory of a node's own processes, mean over the nodes: PSS, not RSS,
 * because every kubelet and kube-proxy maps the same hyperkube binary and RSS
 * would count its pages once per process.
 */
async function meanNodeMemoryMiB(layout: ClusterLayout): Promise<number> {
  const perNode = await Promise.all(
    layout.nodes.map(async (node) => {
      let kib = 0;
      for (const pid of await cgroupPids(node.runtimeCgroup)) {
        const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
        kib += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      }
      return kib / 1024;
    }),
  );
  return perNode.reduce((a, b) => a + b, 0) / Math.max(1, perNode.length);
}

/** Moves this process's children into `cgroup` (made first); children already in a cgroup of ours stay. */
async function adoptChildren(cgroup: string): Promise<void> {
  await createCgroup(cgroup);
  for (const pid of await childrenOf(process.pid)) {
    const own = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    if (own.includes(`:${cgroup.split('/').slice(0, 2).join('/')}/`)) continue;
    await moveToCgroup(pid, cgroup).catch(() => undefined);
  }
}

/** The chart's namespace with the Secret that holds the stack's S3 credentials (values: s3.credentialsSecret). */
async function chartNamespace(kubeconfig: KubeConfig, stack: ClusterStack): Promise<void> {
  const core = kubeconfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: CHART_NAMESPACE } } });
  await core.createNamespacedSecret({
    namespace: CHART_NAMESPACE,
    body: { metadata: { name: S3_CREDENTIALS_SECRET }, stringData: { ...stack.credentials } },
  });
}

/**
 * Helm values that point the chart at this cluster: the embedded stack by
 * its Service names in netmon-stack (exposeStack), as the chart's pods
 * reach it through the cluster DNS. (Strings are JSON-quoted: valid YAML
 * whatever they hold.) The chart's image settings stay: `up` tags the
 * Flent image as the chart's default image.
 */
function valuesYaml(endpoints: ClusterEndpoints | undefined): string {
  const q = (value: string | number | boolean): string => JSON.stringify(value);
  const lines = [
    `# Written by \`netmon cluster up\` for: helm install netmon k8s/netmon -n ${CHART_NAMESPACE} -f <this file>`,
    'clusterName: local',
  ];
  if (endpoints !== undefined) {
    lines.push(
      's3:',
      `  bucket: ${q(endpoints.s3Bucket)}`,
      `  endpoint: ${q(endpoints.s3)}`,
      '  forcePathStyle: true',
      `  credentialsSecret: ${q(S3_CREDENTIALS_SECRET)}`,
      'sqs:',
      `  queueUrl: ${q(endpoints.sqsQueueUrl)}`,
      `  endpoint: ${q(endpoints.sqs)}`,
      'pushgateway:',
      `  url: ${q(endpoints.pushgateway)}`,
      'prometheus:',
      `  url: ${q(endpoints.prometheus)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
