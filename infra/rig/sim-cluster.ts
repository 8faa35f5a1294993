import { RigError } from '../../layers/core/errors.ts';
import { isRoot, missingPrograms } from '../../layers/core/host.ts';
import { log } from '../../layers/core/log.ts';
import {
  lastLines,
  type ManagedProcess,
  runChecked,
  runProcess,
  startProcess,
  waitFor,
} from '../../layers/core/process.ts';
import { onShutdown } from '../../layers/core/shutdown.ts';
import type { ClusterNode } from '../../layers/domain/nodes.ts';
import { goBinary } from './go-binary.ts';

/**
 * The simulated cluster: one network namespace per node, all joined by a
 * Linux bridge, addresses from 198.18.0.0/15 (the benchmarking range), each
 * node's egress shaped with tbf, and nftables rules that cut chosen ordered
 * pairs. The kernel here has no netem, so nothing depends on it: a node's
 * egress delay is a user-space delay line (infra/rig/delay-line, see its
 * README) and its egress loss an nftables rule, as ground truth that the
 * measurements must find.
 *
 * Everything it creates carries a name that says who owns it
 * (netns "nmsim-<pid>-<k>-<node>", links "nm<pid36>.<k>b" / "nm<pid36>.<k>v<i>"),
 * so a later run can remove what a crashed run left behind.
 */

export const NETNS_PREFIX = 'nmsim-';
const LINK_PREFIX = 'nm';
const NODE_NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const IFACE = 'eth0';
const CUT_TABLE = 'netmon_cut';
const IMPAIR_TABLE = 'netmon_impair';
/** The TUN device of a node's delay line: the node's routes to the subnet lead into it. */
const DELAY_TUN = 'dly0';
/** The delay line sends with this fwmark; a policy rule routes marked packets out of eth0 (table main). */
const DELAY_MARK = '0x6e6d';
/** The routing table (and rule preferences 100, 101) that sends unmarked packets into the TUN. */
const DELAY_TABLE = '101';
/** SCHED_FIFO priority of the delay line's thread: a packet is late by as long as it waits for a CPU. */
const DELAY_REALTIME_PRIORITY = '10';
/** Loss is drawn per packet from 0..LOSS_STEPS-1: a resolution of 0.01 %. */
const LOSS_STEPS = 10_000;
const VETH_MTU = 1500;
const REQUIRED_PROGRAMS = { ip: 'iproute2', tc: 'iproute2', nft: 'nftables' } as const;

export interface SimNodeSpec {
  name: string;
  /** Egress rate of the node; unshaped when absent. */
  rateBitsPerSecond?: number;
  /**
   * Egress delay of the node in seconds (0 to 1): every packet it sends to the
   * subnet is held this long, before the rate (tbf) applies. The round trip of
   * a pair is then d(src) + d(dst) more. Needs the delay line (built on first use).
   */
  delaySeconds?: number;
  /**
   * Share of the node's egress packets dropped at random (0 to 0.5, in steps
   * of 0.0001), each on its own: the loss of src->dst probes is that of src's
   * egress, of their replies that of dst's. Silent to the sender, as on a
   * network: a node with loss sends through the delay line too (delay 0).
   */
  lossRatio?: number;
  zone?: string;
  region?: string;
}

export interface SimClusterOptions {
  nodes: readonly SimNodeSpec[];
  /** Ordered pairs [src, dst] whose src->dst tests must fail. */
  cuts?: ReadonlyArray<readonly [string, string]>;
  /** Which /24 of 198.18.0.0/15 (0..511); default derived from the owner so parallel rigs differ. */
  subnetIndex?: number;
  /**
   * Give the host an address on the bridge (<subnet>.1), so that processes in
   * the nodes reach services the host runs there (S3 for the agent, the API
   * server for pods), as nodes of a real cluster reach them over the network.
   */
  hostAddress?: boolean;
}

export interface SimNode {
  name: string;
  netns: string;
  address: string;
  rateBitsPerSecond: number | undefined;
  /** Injected egress delay, 0 when none. */
  delaySeconds: number;
  /** Injected egress loss, 0 when none. */
  lossRatio: number;
  labels: Record<string, string>;
}

let rigCounter = 0;

/** Throws a RigError saying what is missing: root, or the programs (searched in `searchPath`, default PATH + sbin). */
export function checkRigHost(searchPath?: string): void {
  if (!isRoot()) {
    throw new RigError(
      'the simulated cluster needs root: it creates network namespaces, veth pairs, a bridge, tc qdiscs and nftables rules (run as root, e.g. sudo)',
    );
  }
  const missing = missingPrograms(Object.keys(REQUIRED_PROGRAMS), searchPath);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((p) => REQUIRED_PROGRAMS[p as keyof typeof REQUIRED_PROGRAMS]))];
    throw new RigError(
      `the simulated cluster needs ${missing.join(', ')}: install ${packages.join(' ')} (bash infra/system/install.sh installs all system packages)`,
    );
  }
}

function subnetFor(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 511) {
    throw new RigError(`subnetIndex ${index} is out of range: 0..511 (the /24s of 198.18.0.0/15)`);
  }
  return `198.${18 + Math.floor(index / 256)}.${index % 256}`;
}

export class SimCluster {
  readonly id: string;
  readonly nodes: readonly SimNode[];
  /** The host's address on the bridge, when asked for (hostAddress). */
  readonly hostAddress: string | undefined;
  private readonly bridge: string;
  private readonly hostLinks: string[];
  private readonly cuts = new Set<string>();
  private readonly delayLines: Array<{ node: string; process: ManagedProcess }> = [];
  private unregister: (() => void) | undefined;
  private destroyed = false;

  private constructor(id: string, nodes: SimNode[], linkBase: string, hostAddress: string | undefined) {
    this.id = id;
    this.hostAddress = hostAddress;
    this.nodes = nodes;
    this.bridge = `${linkBase}b`;
    this.hostLinks = nodes.map((_, i) => `${linkBase}v${i}`);
  }

  /** Builds the cluster; on any failure everything built so far is removed. */
  static async create(options: SimClusterOptions): Promise<SimCluster> {
    checkRigHost();
    validateNodes(options.nodes);
    await cleanupStaleRigs();
    const k = rigCounter++ % 36;
    const owner = `${process.pid}-${k}`;
    const linkBase = `${LINK_PREFIX}${process.pid.toString(36)}.${k.toString(36)}`;
    const subnet = subnetFor(options.subnetIndex ?? (process.pid * 7 + k) % 512);
    const nodes = options.nodes.map(
      (spec, i): SimNode => ({
        name: spec.name,
        netns: `${NETNS_PREFIX}${owner}-${spec.name}`,
        address: `${subnet}.${i + 10}`,
        rateBitsPerSecond: spec.rateBitsPerSecond,
        delaySeconds: spec.delaySeconds ?? 0,
        lossRatio: spec.lossRatio ?? 0,
        labels: {
          ...(spec.zone === undefined ? {} : { 'topology.kubernetes.io/zone': spec.zone }),
          ...(spec.region === undefined ? {} : { 'topology.kubernetes.io/region': spec.region }),
        },
      }),
    );
    const cluster = new SimCluster(owner, nodes, linkBase, options.hostAddress ? `${subnet}.1` : undefined);
    cluster.unregister = onShutdown(`sim cluster ${owner}`, () => cluster.destroy());
    try {
      await cluster.build();
      for (const [src, dst] of options.cuts ?? []) await cluster.cut(src, dst);
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    log.info(
      {
        cluster: owner,
        nodes: nodes.map((n) => ({
          name: n.name,
          address: n.address,
          rate: n.rateBitsPerSecond,
          ...(n.delaySeconds > 0 ? { delaySeconds: n.delaySeconds } : {}),
          ...(n.lossRatio > 0 ? { lossRatio: n.lossRatio } : {}),
        })),
      },
      'simulated cluster ready',
    );
    return cluster;
  }

  node(name: string): SimNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node)
      throw new RigError(`no node named ${JSON.stringify(name)} in this cluster (${this.nodeNames()})`);
    return node;
  }

  /** The nodes as the pipeline's local node list sees them (NETMON_NODES_FILE): all Ready. */
  clusterNodes(): ClusterNode[] {
    return this.nodes.map((n) => ({
      name: n.name,
      address: n.address,
      netns: n.netns,
      ready: true,
      labels: n.labels,
    }));
  }

  /** The argv prefix that runs a command inside a node's namespace. */
  prefix(name: string): string[] {
    return ['ip', 'netns', 'exec', this.node(name).netns];
  }

  /** Cuts src->dst: dst drops every packet of connections and probes that src starts. dst->src is untouched. */
  async cut(src: string, dst: string): Promise<void> {
    const from = this.node(src);
    const to = this.node(dst);
    const key = `${src}>${dst}`;
    if (this.cuts.has(key)) return;
    await this.nft(to, ['add', 'table', 'inet', CUT_TABLE]);
    await this.nft(to, [
      'add',
      'chain',
      'inet',
      CUT_TABLE,
      'input',
      '{ type filter hook input priority 0 ; policy accept ; }',
    ]);
    await this.nft(to, [
      'add',
      'rule',
      'inet',
      CUT_TABLE,
      'input',
      'ip',
      'saddr',
      from.address,
      'ct',
      'direction',
      'original',
      'drop',
    ]);
    this.cuts.add(key);
  }

  isCut(src: string, dst: string): boolean {
    return this.cuts.has(`${src}>${dst}`);
  }

  /** Removes every namespace, link and process of this cluster. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.unregister?.();
    // The namespaces' removal would kill them too; stopped first, they report what they forwarded and dropped.
    await Promise.all(
      this.delayLines.map(async ({ node, process }) => {
        const result = await process.stop().catch(() => undefined);
        log.debug({ node, report: lastLines(result?.stderr ?? '', 1) }, 'delay line stopped');
      }),
    );
    for (const node of this.nodes) await removeNetns(node.netns);
    // Deleting a namespace frees its veth peers only later, in the kernel's own time: delete them now.
    for (const link of [...this.hostLinks, this.bridge]) await removeLink(link);
    log.info({ cluster: this.id }, 'simulated cluster removed');
  }

  private nodeNames(): string {
    return this.nodes.map((n) => n.name).join(', ');
  }

  private async build(): Promise<void> {
    const impaired = this.nodes.some((n) => n.delaySeconds > 0 || n.lossRatio > 0);
    const delayLine = impaired ? (await goBinary('delay-line')).path : undefined;
    await ip(['link', 'add', this.bridge, 'type', 'bridge']);
    await ip(['link', 'set', this.bridge, 'up']);
    if (this.hostAddress !== undefined)
      await ip(['addr', 'add', `${this.hostAddress}/24`, 'dev', this.bridge]);
    for (const [i, node] of this.nodes.entries()) {
      const hostSide = this.hostLinks[i] as string;
      await ip(['netns', 'add', node.netns]);
      await ip(['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', IFACE, 'netns', node.netns]);
      await ip(['link', 'set', hostSide, 'master', this.bridge, 'up']);
      const inNs = ['-n', node.netns];
      await ip([...inNs, 'link', 'set', 'lo', 'up']);
      await ip([...inNs, 'addr', 'add', `${node.address}/24`, 'dev', IFACE]);
      await ip([...inNs, 'link', 'set', IFACE, 'up']);
      if (node.rateBitsPerSecond !== undefined) await shape(node, node.rateBitsPerSecond);
      if (delayLine !== undefined && (node.delaySeconds > 0 || node.lossRatio > 0))
        await this.impair(node, delayLine);
    }
  }

  /**
   * Delay and loss of the node's egress to the subnet. Unmarked packets to
   * the subnet are routed into a TUN (rule 101, table 101); the delay line
   * reads them, holds each delaySeconds and sends it with a raw socket and
   * fwmark DELAY_MARK, which rule 100 routes by table main out of eth0, where
   * nftables drops lossRatio of them (postrouting) and tbf shapes the rest.
   * A drop there hits the delay line's send, not the sender's: to the sender
   * it is a loss on the network. Reverse path filtering stays off: replies
   * arrive on eth0 while the route back leads into the TUN.
   */
  private async impair(node: SimNode, delayLine: string): Promise<void> {
    const inNs = ['-n', node.netns];
    if (node.lossRatio > 0) {
      const steps = Math.round(node.lossRatio * LOSS_STEPS);
      await runChecked(['ip', 'netns', 'exec', node.netns, 'nft', '-f', '-'], (m) => new RigError(m), {
        input: `table inet ${IMPAIR_TABLE} {
  chain postrouting {
    type filter hook postrouting priority 0; policy accept;
    oifname "${IFACE}" numgen random mod ${LOSS_STEPS} < ${steps} drop
  }
}
`,
      });
    }
    await ip([...inNs, 'tuntap', 'add', 'dev', DELAY_TUN, 'mode', 'tun']);
    // A long queue: TCP bursts into the TUN faster than any reader between two of its wake-ups.
    await ip([...inNs, 'link', 'set', DELAY_TUN, 'mtu', String(VETH_MTU), 'txqueuelen', '10000', 'up']);
    await runChecked(
      [
        'ip',
        'netns',
        'exec',
        node.netns,
        'sysctl',
        // -e: a kernel without IPv6 has no key for it.
        '-qew',
        'net.ipv4.conf.all.rp_filter=0',
        `net.ipv4.conf.${IFACE}.rp_filter=0`,
        // Nothing but the routed IPv4 packets in the TUN (no router solicitations).
        `net.ipv6.conf.${DELAY_TUN}.disable_ipv6=1`,
      ],
      (m) => new RigError(m),
    );
    const line = startProcess(
      [
        'setpriv',
        '--pdeathsig',
        'KILL',
        'ip',
        'netns',
        'exec',
        node.netns,
        delayLine,
        '-tun',
        DELAY_TUN,
        '-delay',
        `${Math.round(node.delaySeconds * 1e9)}ns`,
        '-mark',
        DELAY_MARK,
        '-realtime',
        DELAY_REALTIME_PRIORITY,
      ],
      { killGraceMs: 1000, maxOutputBytes: 64 * 1024 },
    );
    this.delayLines.push({ node: node.name, process: line });
    line.done.then(
      (result) => {
        if (!this.destroyed) {
          log.error(
            {
              node: node.name,
              exitCode: result.exitCode,
              signal: result.signal,
              stderr: lastLines(result.stderr, 3),
            },
            'delay line exited: the node cannot reach the subnet any more',
          );
        }
      },
      (err: unknown) => log.error({ node: node.name, err }, 'delay line did not start'),
    );
    // Attached to the TUN (carrier up) means ready: only then lead the routes into it.
    try {
      await waitFor(
        `the delay line of ${node.name} to attach to ${DELAY_TUN}`,
        async () => {
          if (!line.running) {
            const result = await line.done.catch((err: unknown) => ({ stderr: String(err) }));
            throw new RigError(`the delay line of ${node.name} exited: ${lastLines(result.stderr, 3)}`);
          }
          const link = await runProcess(['ip', ...inNs, 'link', 'show', DELAY_TUN], { timeoutMs: 5000 });
          return /[<,]LOWER_UP[,>]/.test(link.stdout);
        },
        { timeoutMs: 10_000, intervalMs: 20 },
      );
    } catch (err) {
      throw err instanceof RigError ? err : new RigError((err as Error).message, { cause: err });
    }
    const subnet = `${node.address.split('.').slice(0, 3).join('.')}.0/24`;
    await ip([...inNs, 'rule', 'add', 'pref', '100', 'fwmark', DELAY_MARK, 'lookup', 'main']);
    await ip([...inNs, 'route', 'add', subnet, 'dev', DELAY_TUN, 'src', node.address, 'table', DELAY_TABLE]);
    await ip([...inNs, 'rule', 'add', 'pref', '101', 'lookup', DELAY_TABLE]);
  }

  private async nft(node: SimNode, args: string[]): Promise<void> {
    await runChecked(['ip', 'netns', 'exec', node.netns, 'nft', ...args], (m) => new RigError(m));
  }
}

function validateNodes(nodes: readonly SimNodeSpec[]): void {
  if (nodes.length < 2 || nodes.length > 200) {
    throw new RigError(`nodes: ${nodes.length} nodes is not valid; expected 2 to 200`);
  }
  const seen = new Set<string>();
  for (const [i, node] of nodes.entries()) {
    if (!NODE_NAME.test(node.name)) {
      throw new RigError(
        `nodes[${i}].name: ${JSON.stringify(node.name)} is not valid; expected 1-32 of a-z, 0-9 and - (not at either end)`,
      );
    }
    if (seen.has(node.name))
      throw new RigError(`nodes[${i}].name: ${JSON.stringify(node.name)} appears twice`);
    seen.add(node.name);
    const rate = node.rateBitsPerSecond;
    if (rate !== undefined && (!Number.isFinite(rate) || rate < 8_000 || rate > 100e9)) {
      throw new RigError(`nodes[${i}].rateBitsPerSecond: ${rate} is not valid; expected 8000 to 1e11 bit/s`);
    }
    const delay = node.delaySeconds;
    if (delay !== undefined && (!Number.isFinite(delay) || delay < 0 || delay > 1)) {
      throw new RigError(`nodes[${i}].delaySeconds: ${delay} is not valid; expected 0 to 1 s`);
    }
    const loss = node.lossRatio;
    if (loss !== undefined && (!Number.isFinite(loss) || loss < 0 || loss > 0.5)) {
      throw new RigError(`nodes[${i}].lossRatio: ${loss} is not valid; expected 0 to 0.5`);
    }
  }
}

/** Egress shaping with a token bucket: burst of 10 ms at the rate (at least 16 KiB), 50 ms of queue. */
async function shape(node: SimNode, rate: number): Promise<void> {
  const burstBytes = Math.max(16 * 1024, Math.ceil(rate / 8 / 100));
  await runChecked(
    [
      'ip',
      'netns',
      'exec',
      node.netns,
      'tc',
      'qdisc',
      'replace',
      'dev',
      IFACE,
      'root',
      'tbf',
      'rate',
      `${Math.round(rate)}bit`,
      'burst',
      String(burstBytes),
      'latency',
      '50ms',
    ],
    (m) => new RigError(m),
  );
}

async function ip(args: string[]): Promise<void> {
  await runChecked(['ip', ...args], (m) => new RigError(m));
}

async function removeNetns(netns: string): Promise<void> {
  // Processes keep a namespace alive after its name is gone: stop them first.
  const pids = await runProcess(['ip', 'netns', 'pids', netns], { timeoutMs: 10_000 });
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await runProcess(['ip', 'netns', 'delete', netns], { timeoutMs: 10_000 });
}

async function removeLink(name: string): Promise<void> {
  await runProcess(['ip', 'link', 'delete', name], { timeoutMs: 10_000 });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface RigLeftovers {
  netns: string[];
  links: string[];
}

/** Every namespace and link of any simulated cluster (of any owner) that exists now. */
export async function listRigObjects(): Promise<RigLeftovers> {
  const netns = (await runProcess(['ip', 'netns', 'list'], { timeoutMs: 10_000 })).stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(NETNS_PREFIX));
  const links = (await runProcess(['ip', '-o', 'link', 'show'], { timeoutMs: 10_000 })).stdout
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? '')
    .filter((name) => /^nm[0-9a-z]+\.[0-9a-z][bv]\d*$/.test(name));
  return { netns, links };
}

function ownerPid(name: string): number | undefined {
  const fromNetns = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name)?.[1];
  if (fromNetns !== undefined) return Number(fromNetns);
  const fromLink = /^nm([0-9a-z]+)\./.exec(name)?.[1];
  return fromLink === undefined ? undefined : Number.parseInt(fromLink, 36);
}

/** Objects whose owner process is gone: left behind by a crash or a SIGKILL. */
export async function listStaleRigObjects(): Promise<RigLeftovers> {
  const all = await listRigObjects();
  const stale = (name: string): boolean => {
    const pid = ownerPid(name);
    return pid === undefined || !isAlive(pid);
  };
  return { netns: all.netns.filter(stale), links: all.links.filter(stale) };
}

/** Removes what simulated clusters of dead processes left behind (a crash, a SIGKILL). */
export async function cleanupStaleRigs(): Promise<RigLeftovers> {
  const removed = await listStaleRigObjects();
  for (const netns of removed.netns) await removeNetns(netns);
  for (const link of removed.links) await removeLink(link);
  if (removed.netns.length + removed.links.length > 0)
    log.warn(removed, 'removed leftovers of a crashed run');
  return removed;
}

/** Builds a cluster, runs `body`, and always removes the cluster. */
export async function withSimCluster<T>(
  options: SimClusterOptions,
  body: (cluster: SimCluster) => Promise<T>,
): Promise<T> {
  const cluster = await SimCluster.create(options);
  try {
    return await body(cluster);
  } finally {
    await cluster.destroy();
  }
}
