import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVER_PORTS } from '../../layers/domain/test-types.ts';
import { toClusterNode } from '../../layers/k8s/nodes.ts';
import {
  CLOCK_CONTAINER,
  clientPod,
  LABELS,
  labelValue,
  type PodSettings,
  serverPod,
  TEST_POD_RESOURCES,
} from '../../layers/k8s/pods.ts';
import { podSecurityRefusal } from '../../layers/k8s/runner.ts';

const settings: PodSettings = {
  namespace: 'netmon',
  image: 'ghcr.io/erigrid/netmon-flent:0.1.0',
  hostNetwork: true,
  s3CredentialsSecret: 'netmon-s3',
  s3Env: { NETMON_S3_BUCKET: 'netmon', NETMON_S3_ENDPOINT: 'http://minio:9000' },
  agentCommand: ['node', '/opt/netmon/agent.js'],
  slackSeconds: 60,
  ports: DEFAULT_SERVER_PORTS,
};
const request = {
  src: { name: 'ip-10-0-0-1.eu-west-1.compute.internal', address: '10.0.0.1' },
  dst: { name: 'node-b', address: '10.0.0.2' },
  test: 'rrul' as const,
  lengthSeconds: 30,
  delaySeconds: 2,
};
const context = {
  schedule: 'hourly',
  round: '20261126T080000.000Z',
  runId: '0f9c2a1e-1111-2222-3333-444455556666',
};

describe('test pods', () => {
  it('pins the server to dst and the client to src, on the host network, hardened', () => {
    const server = serverPod(request, context, settings);
    const client = clientPod(request, context, settings, '10.0.0.2');
    expect(server.spec?.nodeName).toBe('node-b');
    expect(client.spec?.nodeName).toBe('ip-10-0-0-1.eu-west-1.compute.internal');
    for (const pod of [server, client]) {
      expect(pod.spec?.hostNetwork).toBe(true);
      expect(pod.spec?.automountServiceAccountToken).toBe(false);
      expect(pod.spec?.restartPolicy).toBe('Never');
      // 30 s of test, 2 x 2 s of delay, 60 s of slack.
      expect(pod.spec?.activeDeadlineSeconds).toBe(94);
      for (const container of pod.spec?.containers ?? []) {
        expect(container.securityContext).toMatchObject({
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(container.resources?.requests).toBeDefined();
      }
    }
    // No capability added anywhere, not even NET_RAW: ICMP goes through unprivileged datagram sockets.
    for (const pod of [server, client])
      for (const container of pod.spec?.containers ?? [])
        expect(container.securityContext?.capabilities).toEqual({ drop: ['ALL'] });
  });

  it('resolves cluster DNS names on the host network too (an in-cluster S3 such as minio.storage)', () => {
    for (const hostNetwork of [true, false]) {
      const pods = [
        serverPod(request, context, { ...settings, hostNetwork }),
        clientPod(request, context, { ...settings, hostNetwork }, '10.0.0.2'),
      ];
      for (const pod of pods)
        expect(pod.spec?.dnsPolicy).toBe(hostNetwork ? 'ClusterFirstWithHostNet' : 'ClusterFirst');
    }
  });

  it('serves and connects on the ports of the settings', () => {
    const ports = { netserver: 12999, irtt: 2199 };
    const server = serverPod(request, context, { ...settings, ports });
    const [netserver, irtt] = server.spec?.containers ?? [];
    expect(netserver?.command).toEqual(['netserver', '-D', '-4', '-L', '10.0.0.2', '-p', '12999']);
    expect(netserver?.ports).toEqual([{ name: 'netperf', containerPort: 12999, protocol: 'TCP' }]);
    expect(netserver?.readinessProbe?.tcpSocket).toEqual({ host: '10.0.0.2', port: 12999 });
    expect(irtt?.command).toEqual(['irtt', 'server', '-b', '10.0.0.2:2199']);
    expect(irtt?.ports).toEqual([{ name: 'irtt', containerPort: 2199, protocol: 'UDP' }]);
    // netserver is not PID 1 (which ignores SIGTERM): a deleted server pod stops without its grace period.
    expect(server.spec?.shareProcessNamespace).toBe(true);
    const client = clientPod(request, context, { ...settings, ports }, '10.0.0.2');
    expect(client.spec?.containers[0]?.env).toContainEqual({ name: 'NETMON_NETSERVER_PORT', value: '12999' });
  });

  it("listens on the node's tested address on the host network, on the pod's own in a pod network", () => {
    const [netserver, irtt] =
      serverPod(request, context, { ...settings, hostNetwork: false }).spec?.containers ?? [];
    expect(netserver?.command).toEqual(['netserver', '-D', '-4', '-p', '12865']);
    expect(netserver?.readinessProbe?.tcpSocket).toEqual({ port: 12865 });
    expect(irtt?.command).toEqual(['irtt', 'server', '-b', ':2112']);
  });

  it('allows unprivileged ICMP for our group on the pod network, and leaves the host network alone', () => {
    const onHost = clientPod(request, context, settings, '10.0.0.2');
    expect(onHost.spec?.securityContext?.sysctls).toBeUndefined();
    const onPodNetwork = clientPod(request, context, { ...settings, hostNetwork: false }, '10.0.0.2');
    expect(onPodNetwork.spec?.securityContext?.sysctls).toEqual([
      { name: 'net.ipv4.ping_group_range', value: '65532 65532' },
    ]);
    expect(onPodNetwork.spec?.containers[0]?.securityContext?.allowPrivilegeEscalation).toBe(false);
  });

  it('labels both pods for cleanup and tells the agent what to measure', () => {
    const client = clientPod(request, context, settings, '10.0.0.2');
    expect(client.metadata?.labels).toMatchObject({
      [LABELS.managedBy]: 'netmon-probe',
      [LABELS.schedule]: 'hourly',
      [LABELS.src]: 'ip-10-0-0-1.eu-west-1.compute.internal',
      [LABELS.runId]: context.runId,
    });
    const env = Object.fromEntries(
      (client.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]),
    );
    expect(env).toMatchObject({
      NETMON_AGENT_HOST: '10.0.0.2',
      NETMON_AGENT_TEST: 'rrul',
      NETMON_AGENT_LENGTH_SECONDS: '30',
      NETMON_S3_BUCKET: 'netmon',
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'netmon-s3', key: 'AWS_SECRET_ACCESS_KEY' } },
    });
    expect(client.spec?.containers[0]?.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    expect(client.metadata?.name).toMatch(/^[a-z0-9-]{1,63}$/);
  });

  it("gives the agent the default resources or the settings' own; the servers always the default, the clock container less", () => {
    expect(clientPod(request, context, settings, '10.0.0.2').spec?.containers[0]?.resources).toEqual(
      TEST_POD_RESOURCES,
    );
    const small = { requests: { memory: '16Mi' }, limits: { memory: '16Mi' } };
    const custom = { ...settings, agentResources: small };
    expect(clientPod(request, context, custom, '10.0.0.2').spec?.containers[0]?.resources).toEqual(small);
    const containers = serverPod(request, context, custom).spec?.containers ?? [];
    expect(containers.map((c) => c.name)).toEqual(['netserver', 'irtt', CLOCK_CONTAINER]);
    for (const container of containers.filter((c) => c.name !== CLOCK_CONTAINER))
      expect(container.resources).toEqual(TEST_POD_RESOURCES);
    // dst's clock: the agent bundle's clock mode, hardened like the others, a few MiB.
    const clock = containers.find((c) => c.name === CLOCK_CONTAINER);
    expect(clock?.command).toEqual([...settings.agentCommand, 'clock']);
    expect(clock?.securityContext).toEqual(containers[0]?.securityContext);
    expect(clock?.resources?.limits?.memory).toBe('128Mi');
  });

  it('makes valid label values of anything', () => {
    expect(labelValue('a/b c')).toBe('a_b_c');
    expect(labelValue('-x-')).toBe('x');
    expect(labelValue('y'.repeat(80))).toHaveLength(63);
  });
});

describe('nodes from the API', () => {
  it('takes InternalIP, Ready and labels; cordoned nodes are not ready', () => {
    const node = {
      metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'a' } },
      spec: {},
      status: {
        addresses: [
          { type: 'Hostname', address: 'n1' },
          { type: 'InternalIP', address: '10.0.0.1' },
        ],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    };
    expect(toClusterNode(node)).toEqual({
      name: 'n1',
      address: '10.0.0.1',
      ready: true,
      labels: { 'topology.kubernetes.io/zone': 'a' },
    });
    expect(toClusterNode({ ...node, spec: { unschedulable: true } })?.ready).toBe(false);
    expect(
      toClusterNode({
        ...node,
        status: { ...node.status, conditions: [{ type: 'Ready', status: 'Unknown' }] },
      })?.ready,
    ).toBe(false);
    expect(toClusterNode({ metadata: { name: 'x' } })).toBeUndefined();
  });
});

describe('Pod Security refusals', () => {
  const forbidden = (message: string, asText: boolean): ApiException<unknown> => {
    const body = { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message };
    return new ApiException(403, 'Unknown API Status Code!', asText ? JSON.stringify(body) : body, {});
  };

  it("reads the enforced level and the API server's reason from the 403", () => {
    const message =
      'pods "netmon-srv-1" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)';
    for (const asText of [true, false])
      expect(podSecurityRefusal(forbidden(message, asText))).toEqual({ level: 'baseline', message });
  });

  it('leaves other errors alone: other 403s, other codes, other errors', () => {
    expect(podSecurityRefusal(forbidden('pods is forbidden: User "x" cannot create resource', true))).toBe(
      undefined,
    );
    expect(podSecurityRefusal(new ApiException(404, 'not found', '', {}))).toBeUndefined();
    expect(podSecurityRefusal(new Error('violates PodSecurity "baseline:latest"'))).toBeUndefined();
  });
});
