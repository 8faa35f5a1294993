import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked, runProcess } from '../../layers/core/process.ts';
import { type Daemon, startDaemon, waitForDaemon } from './daemon.ts';
import { CLUSTER_DOMAIN } from './dns.ts';
import { ClusterError } from './errors.ts';
import { PAUSE_IMAGE } from './images.ts';
import type { NodeLayout } from './layout.ts';

/**
 * One node of the local real cluster: containerd and a kubelet inside the
 * node's network namespace (built by infra/rig), with the settings measured
 * to work on a cgroup v1 host without CAP_SYS_RESOURCE (see NOTES.md, "Real
 * kubelets on this machine").
 */

const CNI_BIN_DIR = '/usr/lib/cni';
const CONTAINERD_READY_MS = 30_000;

export interface NodeSpec {
  layout: NodeLayout;
  netns: string;
  address: string;
  labels: Record<string, string>;
  /** The cluster DNS server in pods' resolv.conf (CoreDNS on the host's bridge address, infra/cluster/dns.ts). */
  clusterDns: string;
}

/** A TOML basic string: JSON's escapes are TOML's. */
function toml(value: string): string {
  return JSON.stringify(value);
}

/**
 * containerd with its own root, state, sockets, runc root, CNI config and
 * pod namespaces (netns_mounts_under_state_dir), so that nodes share nothing
 * on the host but the shim sockets' folder, which containerd 1.6 fixes at
 * /run/containerd/s. restrict_oom_score_adj: this VM lacks CAP_SYS_RESOURCE,
 * and runc fails ("can't get final child's PID from pipe") when asked to
 * lower a score.
 */
export function containerdConfig(node: NodeLayout): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `# Written by k8s-netmon infra/cluster/node.ts for node ${node.name}.
version = 2
root = ${toml(node.containerdRoot)}
state = ${toml(node.containerdState)}
# Snapshotters the cluster does not use. (The v1 runtime stays: containerd 1.6's
# tasks service, and so the CRI plugin, fail to load without it.)
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = ${toml(node.socket)}

[ttrpc]
  address = ${toml(`${node.socket}.ttrpc`)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${toml(join(node.containerdRoot, 'opt'))}

[${cri}]
  sandbox_image = ${toml(PAUSE_IMAGE)}
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"

  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${toml(node.runcRoot)}

  [${cri}.cni]
    bin_dir = ${toml(CNI_BIN_DIR)}
    conf_dir = ${toml(node.cniConfDir)}
    max_conf_num = 1
`;
}

/**
 * The pod network of a node: a bridge in the node's namespace with
 * host-local addresses from the node's /24 (leases kept under the node's
 * folder, not /var/lib/cni). Traffic to anything outside that /24 is
 * masqueraded behind the node's address, so pods reach the host's services
 * without routes on the host; other nodes' pod /24s are routed to them
 * (podRoutes).
 */
export function cniConfig(node: NodeLayout): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: node.cniNetwork,
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: node.podCidr }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: node.cniIpamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

/**
 * The kubelet's configuration. Besides the node's own paths: cgroup v1 is
 * allowed (kubelets from v1.35 refuse it by default), the cgroupfs driver
 * (no systemd here), no swap check, no read-only port, webhook
 * authentication and authorization (the API server reaches logs and exec
 * with its kubelet client certificate), the cluster DNS, no eviction and
 * no image garbage collection: the node's memory and disk figures are the
 * whole host's, shared by every node, and an image removed here cannot be
 * pulled again.
 */
export function kubeletConfig(spec: NodeSpec, caFile: string): Record<string, unknown> {
  const node = spec.layout;
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: node.cgroup,
    failSwapOn: false,
    address: spec.address,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: caFile },
    },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${node.socket}`,
    clusterDNS: [spec.clusterDns],
    clusterDomain: CLUSTER_DOMAIN,
    podLogsDir: node.podLogs,
    volumePluginDir: node.volumePlugins,
    evictionHard: {
      'memory.available': '0%',
      'nodefs.available': '0%',
      'nodefs.inodesFree': '0%',
      'imagefs.available': '0%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    shutdownGracePeriod: '0s',
  };
}

/** A kubeconfig with a client certificate (the kubelet's system:node:NAME, kube-proxy's) and the cluster CA. */
export function clientKubeconfig(server: string, caFile: string, cert: ClientCertificate): string {
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'netmon', cluster: { server, 'certificate-authority': caFile } }],
      users: [{ name: 'client', user: { 'client-certificate': cert.cert, 'client-key': cert.key } }],
      contexts: [{ name: 'client', context: { cluster: 'netmon', user: 'client' } }],
      'current-context': 'client',
    },
    null,
    2,
  )}\n`;
}

/** Folders and configuration files of a node that do not need the control plane. */
export async function prepareNode(node: NodeLayout): Promise<void> {
  for (const dir of [
    node.dir,
    node.containerdRoot,
    node.kubeletRoot,
    node.certDir,
    node.podLogs,
    node.volumePlugins,
    node.cniConfDir,
    node.cniIpamDir,
    node.run,
  ]) {
    await mkdir(dir, { recursive: true });
  }
  await writeFile(node.containerdConfig, containerdConfig(node));
  await writeFile(join(node.cniConfDir, '10-netmon.conflist'), cniConfig(node));
}

/**
 * A UTS namespace whose hostname is the node's name, kept by a bind mount
 * (unshare --uts=FILE): containerd and the kubelet run in it, and so do
 * hostNetwork pods, which then see their node's name as `hostname`.
 */
export async function createUtsNamespace(node: NodeLayout): Promise<void> {
  await writeFile(node.uts, '');
  await runChecked(['unshare', `--uts=${node.uts}`, 'hostname', node.name], (m) => new ClusterError(m));
}

/**
 * Routes in a node's namespace: the other nodes' pod /24s via those nodes,
 * and a default route via the host, the node's gateway as on a real
 * network. Without a default route a hostNetwork pod cannot even try a
 * Service address (ENETUNREACH comes before kube-proxy's DNAT).
 */
export async function addNodeRoutes(
  netns: string,
  gateway: string,
  others: ReadonlyArray<{ address: string; podCidr: string }>,
): Promise<void> {
  const routes = [...others.map((o) => [o.podCidr, o.address] as const), ['default', gateway] as const];
  for (const [destination, via] of routes) {
    await runChecked(
      ['ip', '-n', netns, 'route', 'replace', destination, 'via', via],
      (m) => new ClusterError(m),
    );
  }
}

/**
 * Kernel settings of the node's network namespace as a Debian node has them:
 * systemd (50-default.conf) opens unprivileged ICMP echo sockets to every
 * group, so that ping and fping work without CAP_NET_RAW, also for a
 * hostNetwork pod that drops every capability. A bare namespace has the
 * kernel's default ("1 0": nobody).
 */
export async function configureNodeSysctls(netns: string): Promise<void> {
  await runChecked(
    ['ip', 'netns', 'exec', netns, 'sysctl', '-q', '-w', 'net.ipv4.ping_group_range=0 2147483647'],
    (m) => new ClusterError(m),
  );
}

/** The argv prefix that runs a program in the node's network and UTS namespaces, in its cgroup, dying with us. */
function inNode(spec: NodeSpec, hyperkube: string): string[] {
  return [
    // nsenter, not `ip netns exec`: that one remounts /sys and hides /sys/fs/cgroup from the kubelet.
    'nsenter',
    `--net=/var/run/netns/${spec.netns}`,
    `--uts=${spec.layout.uts}`,
    '--',
    hyperkube,
    'launch',
    '--cgroup',
    spec.layout.runtimeCgroup,
    '--parent',
    String(process.pid),
    '--',
  ];
}

export async function startContainerd(spec: NodeSpec, hyperkube: string): Promise<Daemon> {
  const node = spec.layout;
  const daemon = await startDaemon(
    `containerd of ${node.name}`,
    [...inNode(spec, hyperkube), 'containerd', '--config', node.containerdConfig],
    node.containerdLog,
  );
  await waitForDaemon(
    daemon,
    `containerd of ${node.name} to serve`,
    async () =>
      (await runProcess(['ctr', '--address', node.socket, 'version'], { timeoutMs: 5_000 })).exitCode === 0,
    CONTAINERD_READY_MS,
  );
  return daemon;
}

export interface ClientCertificate {
  cert: string;
  key: string;
}

/** A client certificate signed by the cluster CA (`control-plane issue-cert`), written to PREFIX.crt and PREFIX.key. */
export async function issueClientCertificate(
  controlPlaneBinary: string,
  pkiDir: string,
  user: { name: string; groups: readonly string[] },
  prefix: string,
): Promise<ClientCertificate> {
  await runChecked(
    [
      controlPlaneBinary,
      'issue-cert',
      '--pki',
      pkiDir,
      '--cn',
      user.name,
      ...user.groups.flatMap((group) => ['--org', group]),
      '--out',
      prefix,
    ],
    (m) => new ClusterError(m),
  );
  return { cert: `${prefix}.crt`, key: `${prefix}.key` };
}

/** The kubelet's identity: user system:node:NAME in group system:nodes (the Node authorizer's terms). */
export function issueNodeCertificate(
  controlPlaneBinary: string,
  pkiDir: string,
  node: NodeLayout,
): Promise<ClientCertificate> {
  return issueClientCertificate(
    controlPlaneBinary,
    pkiDir,
    { name: `system:node:${node.name}`, groups: ['system:nodes'] },
    join(node.certDir, 'kubelet-client'),
  );
}

export async function startKubelet(
  spec: NodeSpec,
  hyperkube: string,
  server: string,
  caFile: string,
  cert: ClientCertificate,
): Promise<Daemon> {
  const node = spec.layout;
  await writeFile(node.kubeletConfig, `${JSON.stringify(kubeletConfig(spec, caFile), null, 2)}\n`);
  await writeFile(node.kubeletKubeconfig, clientKubeconfig(server, caFile, cert));
  const labels = Object.entries(spec.labels).map(([key, value]) => `${key}=${value}`);
  return startDaemon(
    `kubelet of ${node.name}`,
    [
      ...inNode(spec, hyperkube),
      hyperkube,
      'kubelet',
      `--config=${node.kubeletConfig}`,
      `--kubeconfig=${node.kubeletKubeconfig}`,
      `--root-dir=${node.kubeletRoot}`,
      `--cert-dir=${node.certDir}`,
      // The kubelet would lowercase a name; the node authorizer then refuses a certificate for the original.
      `--hostname-override=${node.name}`,
      `--node-ip=${spec.address}`,
      ...(labels.length > 0 ? [`--node-labels=${labels.join(',')}`] : []),
      '--v=1',
    ],
    node.kubeletLog,
  );
}

/** Port of kube-proxy's health check, on the node's address so that the host can ask it. */
export const KUBE_PROXY_HEALTHZ_PORT = 10256;

/**
 * kube-proxy in iptables mode in the node's namespace: ClusterIP and
 * NodePort Services work as on a real node, the kubernetes Service (the API
 * server on the bridge) included. Conntrack limits are left alone: the
 * table size is the host's, not a namespace's.
 */
export function kubeProxyConfig(
  spec: NodeSpec,
  kubeconfig: string,
  clusterCidr: string,
): Record<string, unknown> {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    mode: 'iptables',
    hostnameOverride: spec.layout.name,
    clusterCIDR: clusterCidr,
    healthzBindAddress: `${spec.address}:${KUBE_PROXY_HEALTHZ_PORT}`,
    metricsBindAddress: '127.0.0.1:10249',
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  };
}

export async function startKubeProxy(
  spec: NodeSpec,
  hyperkube: string,
  kubeconfig: string,
  clusterCidr: string,
): Promise<Daemon> {
  const node = spec.layout;
  await writeFile(
    node.kubeProxyConfig,
    `${JSON.stringify(kubeProxyConfig(spec, kubeconfig, clusterCidr), null, 2)}\n`,
  );
  return startDaemon(
    `kube-proxy of ${node.name}`,
    [...inNode(spec, hyperkube), hyperkube, 'kube-proxy', `--config=${node.kubeProxyConfig}`, '--v=1'],
    node.kubeProxyLog,
  );
}
