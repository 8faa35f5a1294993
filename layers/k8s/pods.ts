import type {
  V1Container,
  V1EnvVar,
  V1Pod,
  V1PodSpec,
  V1ResourceRequirements,
  V1SecurityContext,
} from '@kubernetes/client-node';
import type { TestRequest } from '../domain/runner.ts';
import {
  DEFAULT_DELAY_SECONDS,
  expectedRunSeconds,
  type ServerPorts,
  type TestName,
} from '../domain/test-types.ts';
import { validateFlentSpec } from '../flent/spec.ts';

/**
 * The two pods of one test: a server pod on dst (netserver + irtt) and a
 * client pod on src (the agent). Both pinned with nodeName (no scheduler
 * decides where a measurement runs), host network by default, hardened,
 * labelled for cleanup.
 */

export const LABELS = {
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  schedule: 'netmon.erigrid.eu/schedule',
  round: 'netmon.erigrid.eu/round',
  src: 'netmon.erigrid.eu/src',
  dst: 'netmon.erigrid.eu/dst',
  runId: 'netmon.erigrid.eu/run-id',
} as const;
export const MANAGED_BY = 'netmon-probe';
/** The image's non-root user and group (infra/images/flent). */
export const RUN_AS_USER = 65532;
export const RUN_AS_GROUP = 65532;

export interface PodSettings {
  namespace: string;
  /** The Flent image: flent, netperf, fping, irtt, Node and the agent bundle. */
  image: string;
  hostNetwork: boolean;
  /** Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for the agent, when not using workload identity. */
  s3CredentialsSecret?: string;
  /** NETMON_S3_* settings passed to the agent as plain values. */
  s3Env: Record<string, string>;
  agentCommand: string[];
  /** Where the server pod's netserver (TCP) and irtt server (UDP) listen. */
  ports: ServerPorts;
  /** Seconds beyond the test's own run time a pod may live. */
  slackSeconds: number;
  /** Requests and limits of the agent container; default agentResourcesFor(the test) (the servers always get TEST_POD_RESOURCES). */
  agentResources?: V1ResourceRequirements;
}

export interface TestContext {
  schedule: string;
  round: string;
  runId: string;
}

/** Label values: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends. */
export function labelValue(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 63);
  return cleaned.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '') || 'x';
}

function labels(
  context: TestContext,
  request: TestRequest,
  component: 'server' | 'client',
): Record<string, string> {
  return {
    [LABELS.name]: 'k8s-netmon',
    [LABELS.component]: component,
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.schedule]: labelValue(context.schedule),
    [LABELS.round]: labelValue(context.round),
    [LABELS.src]: labelValue(request.src.name),
    [LABELS.dst]: labelValue(request.dst.name),
    [LABELS.runId]: labelValue(context.runId),
  };
}

/** Every container of both pods: non-root, no escalation, read-only root, no capability at all. */
function hardened(): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    runAsGroup: RUN_AS_GROUP,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    // Pod Security "restricted" asks for it; the runtime's default profile allows everything our tools do.
    seccompProfile: { type: 'RuntimeDefault' },
    capabilities: { drop: ['ALL'] },
  };
}

/** Requests and limits of every test pod container but the agent's (sized from its test: agentResourcesFor). */
export const TEST_POD_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '100m', memory: '64Mi' },
  limits: { memory: '256Mi' },
};

const MiB = 1024 * 1024;

/**
 * The agent container's memory limit, from its test and the test's length.
 * The container holds Node with the agent (75 MB) and, while the test runs,
 * flent (Python) and its tools (irtt, fping, netperf): they keep every
 * sample until the test ends and flent writes the archive. Then flent has
 * exited and Node parses the archive and summarises it. Both phases grow with
 * the seconds of test, at a rate set by the test's samples per second: irtt
 * at 100 packets/s (udp_latency) the most, one TCP stream with pings at 5/s
 * the least.
 *
 *   limit = max(256 MiB, 1.5 x (140 MB + rate(test) x seconds of test)),
 *   rounded up to 32 MiB; seconds of test = length + 2 x delay.
 *
 * 140 MB: Node with the agent (75 MB) beside flent and its tools at start
 * (50 to 70 MB). rate(test): the steeper of the two phases, measured and
 * rounded up. 1.5: the tools' figures are samples of their PSS every 50 ms
 * (a peak between two samples is missed) on one machine, an hour is
 * extrapolated from 15 minutes at most, and Node sizes its heap to the
 * container (it collects sooner under a lower limit). 256 MiB, the fixed
 * limit this replaces, stays the floor.
 *
 * Measured (MB, 2 s delays; flent and its tools in a network namespace of
 * their own, Node's parse on synthetic archives scaled from the fixtures in
 * test/fixtures/flent, the agent's bundle):
 *
 *   test          flent + tools at 30 / 120 / 360 / 900 s   MB/s   Node's parse of 1 h   MB/s   rate
 *   udp_latency   73 / 103 / 214 / 372                      0.34   474 (9.5 MB .gz)      0.11   0.40
 *   rrul          59 / 71 / 75                              0.05   303 (4.4 MB .gz)      0.07   0.10
 *   ping          51 / 64 / 84                              0.10   109                   0.01   0.12
 *   tcp_upload    58 / 51                                   0      95                    0.01   0.02
 *
 * So an hour of udp_latency gets 2272 MiB, of ping 832 MiB, of rrul 736 MiB,
 * of tcp_upload 320 MiB; 256 MiB stays up to 1.5 minutes of udp_latency, 5
 * of ping, 6 of rrul, 30 of a TCP test. The request stays 64 MiB: a pod
 * pinned with nodeName is admitted by the kubelet itself, which would refuse
 * one whose request does not fit beside the node's other pods.
 */
export const AGENT_MEMORY = {
  floorBytes: 256 * MiB,
  baseBytes: 140e6,
  margin: 1.5,
  bytesPerTestSecond: {
    ping: 0.12e6,
    tcp_upload: 0.02e6,
    tcp_download: 0.02e6,
    rrul: 0.1e6,
    udp_latency: 0.4e6,
  } satisfies Record<TestName, number>,
} as const;

/** The agent's memory limit in bytes for `request`'s test (AGENT_MEMORY's rule). */
export function agentMemoryLimitBytes(
  request: Pick<TestRequest, 'test' | 'lengthSeconds' | 'delaySeconds'>,
): number {
  const seconds = expectedRunSeconds(request.lengthSeconds, request.delaySeconds ?? DEFAULT_DELAY_SECONDS);
  const needed =
    AGENT_MEMORY.margin * (AGENT_MEMORY.baseBytes + AGENT_MEMORY.bytesPerTestSecond[request.test] * seconds);
  return Math.max(AGENT_MEMORY.floorBytes, Math.ceil(needed / (32 * MiB)) * 32 * MiB);
}

/** The agent container's requests and limits: TEST_POD_RESOURCES with the memory limit sized from the test. */
export function agentResourcesFor(
  request: Pick<TestRequest, 'test' | 'lengthSeconds' | 'delaySeconds'>,
): V1ResourceRequirements {
  return {
    ...TEST_POD_RESOURCES,
    limits: { ...TEST_POD_RESOURCES.limits, memory: `${agentMemoryLimitBytes(request) / MiB}Mi` },
  };
}

/** The server pod's container that prints dst's clock state (functions/agent: `agent.js clock`). */
export const CLOCK_CONTAINER = 'clock';
const CLOCK_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '10m', memory: '32Mi' },
  limits: { memory: '128Mi' },
};

/** The schedule's timeoutSeconds when it has one, else the test's expected run time plus slack. */
function deadline(request: TestRequest, settings: PodSettings): number {
  if (request.timeoutSeconds !== undefined) return request.timeoutSeconds;
  const spec = validateFlentSpec({
    test: request.test,
    host: request.dst.address,
    length: request.lengthSeconds,
    delay: request.delaySeconds,
    outputDir: '/tmp',
  });
  return expectedRunSeconds(spec.length, spec.delay) + settings.slackSeconds;
}

function podName(component: 'srv' | 'cli', context: TestContext): string {
  return `netmon-${component}-${labelValue(context.runId)
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 40)}`;
}

/** What every pod of ours shares: pinned to a node, never restarted, no API token, a hard deadline, any taint tolerated. */
function commonSpec(
  nodeName: string,
  activeDeadlineSeconds: number,
  settings: Pick<PodSettings, 'hostNetwork'>,
): Omit<V1PodSpec, 'containers'> {
  return {
    nodeName,
    hostNetwork: settings.hostNetwork,
    // On the host network "ClusterFirst" falls back to the node's resolv.conf: in-cluster S3 names would not resolve.
    dnsPolicy: settings.hostNetwork ? 'ClusterFirstWithHostNet' : 'ClusterFirst',
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    activeDeadlineSeconds,
    terminationGracePeriodSeconds: 1,
    tolerations: [{ operator: 'Exists' }],
  };
}

export function serverPod(request: TestRequest, context: TestContext, settings: PodSettings): V1Pod {
  // On the host network the servers listen on the tested address only, not on every interface of
  // the node; a pod network namespace holds just the pod's own address.
  const bind = settings.hostNetwork ? request.dst.address : undefined;
  const irttHost = bind === undefined ? '' : bind.includes(':') ? `[${bind}]` : bind;
  const containers: V1Container[] = [
    {
      name: 'netserver',
      image: settings.image,
      command: [
        'netserver',
        '-D',
        '-4',
        ...(bind === undefined ? [] : ['-L', bind]),
        '-p',
        String(settings.ports.netserver),
      ],
      ports: [{ name: 'netperf', containerPort: settings.ports.netserver, protocol: 'TCP' }],
      readinessProbe: {
        tcpSocket: { ...(bind === undefined ? {} : { host: bind }), port: settings.ports.netserver },
        periodSeconds: 1,
      },
      securityContext: hardened(),
      resources: TEST_POD_RESOURCES,
      // A server that cannot listen says why in its log: the runner reports it.
      terminationMessagePolicy: 'FallbackToLogsOnError',
    },
    {
      name: 'irtt',
      image: settings.image,
      command: ['irtt', 'server', '-b', `${irttHost}:${settings.ports.irtt}`],
      ports: [{ name: 'irtt', containerPort: settings.ports.irtt, protocol: 'UDP' }],
      securityContext: hardened(),
      resources: TEST_POD_RESOURCES,
      terminationMessagePolicy: 'FallbackToLogsOnError',
    },
    {
      // dst's clock, read through the test (the agent reads src's): one-way delays are judged by both.
      name: CLOCK_CONTAINER,
      image: settings.image,
      command: [...settings.agentCommand, 'clock'],
      securityContext: hardened(),
      resources: CLOCK_RESOURCES,
    },
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName('srv', context),
      namespace: settings.namespace,
      labels: labels(context, request, 'server'),
    },
    spec: {
      ...commonSpec(request.dst.name, deadline(request, settings), settings),
      // netserver as a container's PID 1 ignores SIGTERM (PID 1 has no default signal action): each
      // deletion waited out the grace period. Behind the pod's pause process it stops at once.
      shareProcessNamespace: true,
      containers,
    },
  };
}

/**
 * No capability at all: fping and ping have no file capability in the image (under no_new_privs
 * the kernel would refuse to execute them) and use unprivileged ICMP datagram sockets, which
 * ping_group_range must allow for our group.
 * A pod can set that sysctl only in its own network namespace; on the host network it is the
 * node's setting (systemd's default, 0 2147483647, allows everyone). See infra/images/flent/README.md.
 */
function unprivilegedIcmp(settings: Pick<PodSettings, 'hostNetwork'>): Pick<V1PodSpec, 'securityContext'> {
  return settings.hostNetwork
    ? {}
    : {
        securityContext: {
          sysctls: [{ name: 'net.ipv4.ping_group_range', value: `${RUN_AS_GROUP} ${RUN_AS_GROUP}` }],
        },
      };
}

export function clientPod(
  request: TestRequest,
  context: TestContext,
  settings: PodSettings,
  serverAddress: string,
): V1Pod {
  const env: V1EnvVar[] = [
    { name: 'NETMON_AGENT_HOST', value: serverAddress },
    { name: 'NETMON_AGENT_TEST', value: request.test },
    { name: 'NETMON_AGENT_LENGTH_SECONDS', value: String(request.lengthSeconds) },
    { name: 'NETMON_AGENT_DELAY_SECONDS', value: String(request.delaySeconds ?? DEFAULT_DELAY_SECONDS) },
    { name: 'NETMON_AGENT_SCHEDULE', value: context.schedule },
    { name: 'NETMON_NETSERVER_PORT', value: String(settings.ports.netserver) },
    { name: 'NETMON_AGENT_SRC', value: request.src.name },
    { name: 'NETMON_AGENT_DST', value: request.dst.name },
    { name: 'NETMON_WORK_DIR', value: '/tmp' },
    { name: 'NETMON_TERMINATION_LOG', value: '/dev/termination-log' },
    ...Object.entries(settings.s3Env).map(([name, value]) => ({ name, value })),
    ...(settings.s3CredentialsSecret === undefined
      ? []
      : ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].map((key) => ({
          name: key,
          valueFrom: { secretKeyRef: { name: settings.s3CredentialsSecret as string, key } },
        }))),
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName('cli', context),
      namespace: settings.namespace,
      labels: labels(context, request, 'client'),
    },
    spec: {
      ...commonSpec(request.src.name, deadline(request, settings), settings),
      ...unprivilegedIcmp(settings),
      volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }],
      containers: [
        {
          name: 'agent',
          image: settings.image,
          command: settings.agentCommand,
          env,
          // Like the servers: nothing granted (ICMP through datagram sockets, see the pod's comment).
          securityContext: hardened(),
          resources: settings.agentResources ?? agentResourcesFor(request),
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
    },
  };
}

/** Labels of the sweep's pods: their own manager, so the probe's cleanup of test pods never takes them. */
export const SWEEP_MANAGED_BY = 'netmon-sweep';

/** What a sweep pod needs: its node, the peers' addresses in report order, the sweep's id and deadline. */
export interface SweepPodRequest {
  node: string;
  targets: readonly string[];
  sweepId: string;
  deadlineSeconds: number;
}

/**
 * A sweep pod: the agent's `sweep` mode on one node, fping to every peer at
 * once, its report in the termination message. Hardened like the test pods.
 */
export function sweepPod(
  request: SweepPodRequest,
  settings: Pick<PodSettings, 'namespace' | 'image' | 'hostNetwork' | 'agentCommand'>,
): V1Pod {
  const name = `netmon-sweep-${labelValue(request.sweepId).toLowerCase().slice(0, 12)}-${labelValue(
    request.node,
  )
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 30)}`.replace(/-+$/, '');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: settings.namespace,
      labels: {
        [LABELS.name]: 'k8s-netmon',
        [LABELS.component]: 'sweep',
        [LABELS.managedBy]: SWEEP_MANAGED_BY,
        [LABELS.src]: labelValue(request.node),
        [LABELS.runId]: labelValue(request.sweepId),
      },
    },
    spec: {
      ...commonSpec(request.node, request.deadlineSeconds, settings),
      ...unprivilegedIcmp(settings),
      containers: [
        {
          name: 'sweep',
          image: settings.image,
          command: [...settings.agentCommand, 'sweep', ...request.targets],
          securityContext: hardened(),
          resources: TEST_POD_RESOURCES,
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
    },
  };
}
