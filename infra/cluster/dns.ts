import { Resolver } from 'node:dns/promises';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type Daemon, startDaemon, waitForDaemon } from './daemon.ts';
import { ClusterError } from './errors.ts';
import type { ClusterEndpoints } from './stack.ts';

/**
 * The cluster's DNS: CoreDNS (infra/cluster/coredns, a few plugins) as a
 * host process of the supervisor, like the scheduler: in the cluster's
 * control cgroup, SIGTERM when the supervisor dies, its kubernetes plugin
 * reading the API server with the admin kubeconfig. It listens on the
 * host's bridge address, port 53, which every node and, masqueraded, every
 * pod reaches already (the API server and s3rver are there too); the
 * kubelets' clusterDNS is that address, so no Service, ClusterIP or
 * kube-proxy rule is in the way of a lookup, and DNS works before any pod
 * runs. Names outside cluster.local go to the host's resolvers.
 *
 * The embedded stack gets names too: Services without selectors in
 * netmon-stack whose EndpointSlices point at the host's bridge address, so
 * that `http://s3.netmon-stack:9000` reaches s3rver through kube-proxy's
 * ClusterIP rules, as `http://minio.storage:9000` would in a real cluster.
 */

export const CLUSTER_DOMAIN = 'cluster.local';
/** The namespace of the embedded stack's Services. */
export const STACK_NAMESPACE = 'netmon-stack';
const DNS_READY_MS = 30_000;
/** Who made the EndpointSlices (not the EndpointSlice controller, which leaves them alone). */
const MANAGED_BY = 'k8s-netmon';

export interface ClusterDns {
  /** The address in every pod's resolv.conf (the kubelets' clusterDNS). */
  server: string;
  domain: string;
  pid: number;
  log: string;
  corefile: string;
}

/**
 * The Corefile: kubeadm's default minus what needs a port of its own
 * (health, ready, prometheus) or only matters for a Deployment (loop,
 * reload, loadbalance).
 */
export function corefile(address: string, kubeconfig: string): string {
  return `# Written by k8s-netmon infra/cluster/dns.ts.
.:53 {
    bind ${address}
    errors
    cache 30
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        kubeconfig ${JSON.stringify(kubeconfig)}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
}
`;
}

export interface StartDnsOptions {
  coredns: string;
  hyperkube: string;
  /** The host's bridge address. */
  address: string;
  /** A kubeconfig for the API server (the admin's, as the scheduler's). */
  kubeconfig: string;
  /** The cluster's control cgroup (the scheduler's and the controller-manager's). */
  cgroup: string;
  /** DIR: the Corefile and coredns.log go there. */
  out: string;
}

/** Starts CoreDNS through `hyperkube launch` (cgroup, parent-death signal); wait with waitForClusterDns. */
export async function startClusterDns(options: StartDnsOptions): Promise<Daemon> {
  const path = join(options.out, 'Corefile');
  await writeFile(path, corefile(options.address, options.kubeconfig));
  return startDaemon(
    'coredns',
    [
      options.hyperkube,
      'launch',
      '--cgroup',
      options.cgroup,
      '--parent',
      String(process.pid),
      '--',
      options.coredns,
      '-conf',
      path,
    ],
    join(options.out, 'coredns.log'),
  );
}

/**
 * Waits until CoreDNS answers kubernetes.default.svc.cluster.local with the
 * kubernetes Service's ClusterIP: it listens, and its kubernetes plugin has
 * synced with the API server.
 */
export async function waitForClusterDns(
  daemon: Daemon,
  address: string,
  kubeconfig: KubeConfig,
): Promise<void> {
  const core = kubeconfig.makeApiClient(CoreV1Api);
  const resolver = new Resolver({ timeout: 1_000, tries: 1 });
  resolver.setServers([address]);
  const name = `kubernetes.default.svc.${CLUSTER_DOMAIN}`;
  await waitForDaemon(
    daemon,
    `CoreDNS to answer ${name}`,
    async () => {
      const service = await core
        .readNamespacedService({ name: 'kubernetes', namespace: 'default' })
        .catch(() => undefined);
      const clusterIp = service?.spec?.clusterIP;
      if (clusterIp === undefined) return false;
      const answer = await resolver.resolve4(name).catch(() => [] as string[]);
      return answer.includes(clusterIp);
    },
    DNS_READY_MS,
  );
}

/** Proportional set size of a process in MiB (0 when it is gone). */
export async function pssMiB(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  return Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) / 1024;
}

/** The Service port of each stack service: the usual one, whatever port the host side has. */
const STACK_SERVICES = [
  { name: 's3', key: 's3', port: 9000 },
  { name: 'sqs', key: 'sqs', port: 9324 },
  { name: 'pushgateway', key: 'pushgateway', port: 9091 },
  { name: 'prometheus', key: 'prometheus', port: 9090 },
] as const;

/**
 * Services without selectors in netmon-stack, each with an EndpointSlice to
 * the host's side of the stack service, and the stack's endpoints by those
 * names. Made before kube-proxy starts, so that its first sync (which its
 * health check waits for) has their rules.
 */
export async function exposeStack(
  kubeconfig: KubeConfig,
  endpoints: ClusterEndpoints,
): Promise<ClusterEndpoints> {
  const core = kubeconfig.makeApiClient(CoreV1Api);
  const discovery = kubeconfig.makeApiClient(DiscoveryV1Api);
  await core.createNamespace({ body: { metadata: { name: STACK_NAMESPACE } } });
  const names: Partial<Record<(typeof STACK_SERVICES)[number]['key'], string>> = {};
  for (const service of STACK_SERVICES) {
    const target = new URL(endpoints[service.key]);
    const port = Number(target.port);
    if (!Number.isInteger(port) || port <= 0) {
      throw new ClusterError(`the stack's ${service.name} endpoint ${target.href} has no port`);
    }
    await core.createNamespacedService({
      namespace: STACK_NAMESPACE,
      body: {
        metadata: { name: service.name },
        spec: { ports: [{ name: 'http', protocol: 'TCP', port: service.port, targetPort: port }] },
      },
    });
    await discovery.createNamespacedEndpointSlice({
      namespace: STACK_NAMESPACE,
      body: {
        metadata: {
          name: `${service.name}-host`,
          labels: {
            'kubernetes.io/service-name': service.name,
            'endpointslice.kubernetes.io/managed-by': MANAGED_BY,
          },
        },
        addressType: 'IPv4',
        endpoints: [{ addresses: [target.hostname], conditions: { ready: true } }],
        ports: [{ name: 'http', protocol: 'TCP', port }],
      },
    });
    names[service.key] = `http://${service.name}.${STACK_NAMESPACE}:${service.port}`;
  }
  const { s3, sqs, pushgateway, prometheus } = names;
  if (s3 === undefined || sqs === undefined || pushgateway === undefined || prometheus === undefined) {
    throw new ClusterError('exposeStack: a stack service has no name');
  }
  // The queue's URL: the same path, on the Service.
  const sqsQueueUrl = `${sqs}${new URL(endpoints.sqsQueueUrl).pathname}`;
  return { s3, s3Bucket: endpoints.s3Bucket, sqs, sqsQueueUrl, pushgateway, prometheus };
}
