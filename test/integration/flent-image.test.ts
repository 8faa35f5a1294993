import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../infra/local-stack/s3.ts';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import {
  type ManagedProcess,
  type RunResult,
  runChecked,
  runProcess,
  startProcess,
  waitFor,
} from '../../layers/core/process.ts';
import type { TestRequest } from '../../layers/domain/runner.ts';
import { DEFAULT_SERVER_PORTS } from '../../layers/domain/test-types.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { decodeReport } from '../../layers/flent/compact.ts';
import { icmpCheckArgv } from '../../layers/flent/run.ts';
import { clientPod, type PodSettings, serverPod, type TestContext } from '../../layers/k8s/pods.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { relativeDifference } from '../helpers/flent-stats.ts';

/**
 * The Flent image's contents, proven without a container engine: rootfs.sh
 * builds the image's tree (debootstrap + the Dockerfile's provision.sh + Node
 * 24, cached), and runc runs the pods of layers/k8s/pods.ts in it, translated
 * as a container runtime would (command, env, security context, emptyDir,
 * termination log), each container joined to its simulated node's network
 * namespace (the pods use the host network). The server pod's netserver and
 * irtt run on node B; the agent on node A measures A->B, stores the archive
 * in s3rver and reports through its termination log.
 */
const ROOTFS_SH = fileURLToPath(new URL('../../infra/images/flent/rootfs.sh', import.meta.url));
const PROVISION_SH = fileURLToPath(new URL('../../infra/images/flent/provision.sh', import.meta.url));
const PACKAGES_TXT = fileURLToPath(new URL('../../infra/system/packages.txt', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist', import.meta.url));
const RATE = 20e6;
const LENGTH_SECONDS = 3;
const USER_ID = 65532;
/** What systemd (50-default.conf) sets on a node, which host-network pods share: ICMP datagram sockets for all. */
const SYSTEMD_PING_GROUP_RANGE = '0 2147483647';
const S3_SECRET = {
  name: 's3-credentials',
  data: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
};

let dir: string;
let rootfs: string;
let cluster: SimCluster;
let s3: LocalS3;
let runc: Runc;
let request: TestRequest;
let settings: PodSettings;
const context: TestContext = { schedule: 'image', round: '20261126T000000Z', runId: 'flent-image' };

/** A pod's container as runc runs it: the pod's node, its spec, and the host file behind its termination log. */
interface PodContainer {
  name: string;
  netns: string;
  pod: V1PodSpec;
  container: V1Container;
  terminationLog?: string;
}

/**
 * runc with its own state folder; every container it starts is removed by
 * removeAll (runc delete --force kills what still runs in it).
 */
class Runc {
  private readonly root: string;
  private readonly bundles: string;
  private readonly image: { rootfs: string; bundleDir: string };
  private readonly started = new Map<string, ManagedProcess>();

  constructor(workDir: string, image: { rootfs: string; bundleDir: string }) {
    this.root = join(workDir, 'runc-state');
    this.bundles = join(workDir, 'bundles');
    this.image = image;
  }

  id(name: string): string {
    return `nmflent-${process.pid}-${name}`;
  }

  /** Starts the container in the foreground (runc forwards signals to it, its exit code is runc's). */
  async start(spec: PodContainer): Promise<ManagedProcess> {
    const id = this.id(spec.name);
    const bundle = join(this.bundles, id);
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(ociConfig(spec, this.image), null, 2));
    // A backstop only: the servers live for the whole file, removeAll ends them.
    const running = startProcess(['runc', '--root', this.root, 'run', '--bundle', bundle, id], {
      timeoutMs: 600_000,
    });
    this.started.set(id, running);
    return running;
  }

  async run(spec: PodContainer): Promise<RunResult> {
    return (await this.start(spec)).done;
  }

  /** The container's first process as the host sees it, once it runs. */
  async pid(name: string): Promise<number | undefined> {
    const state = await runProcess(['runc', '--root', this.root, 'state', this.id(name)], {
      timeoutMs: 10_000,
    });
    if (state.exitCode !== 0) return undefined;
    const parsed = JSON.parse(state.stdout) as { pid?: number; status?: string };
    return parsed.status === 'running' ? parsed.pid : undefined;
  }

  async removeAll(): Promise<void> {
    for (const [id, running] of this.started) {
      await runProcess(['runc', '--root', this.root, 'delete', '--force', id], { timeoutMs: 10_000 });
      await running.stop();
    }
    this.started.clear();
  }
}

/** Kubernetes quantities as the pod specs write them (256Mi). */
function bytesOf(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity);
  if (!match) throw new Error(`quantity ${quantity}: only <n>[Ki|Mi|Gi] is translated`);
  const unit = { Ki: 1 << 10, Mi: 1 << 20, Gi: 1 << 30 }[match[2] as 'Ki' | 'Mi' | 'Gi'] ?? 1;
  return Number(match[1]) * unit;
}

function envOf(container: V1Container): string[] {
  // A runtime adds PATH from the image and HOME from its /etc/passwd.
  const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/nonexistent'];
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (variable.value !== undefined) env.push(`${variable.name}=${variable.value}`);
    else if (ref?.name === S3_SECRET.name && ref.key in S3_SECRET.data)
      env.push(`${variable.name}=${S3_SECRET.data[ref.key as keyof typeof S3_SECRET.data]}`);
    else throw new Error(`env ${variable.name}: only values and the S3 secret are translated`);
  }
  return env;
}

/** Volumes of the pod spec: emptyDir becomes a tmpfs (its size limit kept). */
function volumeMounts(spec: PodContainer): object[] {
  return (spec.container.volumeMounts ?? []).map((mount) => {
    const volume = spec.pod.volumes?.find((v) => v.name === mount.name);
    if (volume?.emptyDir === undefined) throw new Error(`volume ${mount.name}: only emptyDir is translated`);
    const size =
      volume.emptyDir.sizeLimit === undefined ? [] : [`size=${bytesOf(volume.emptyDir.sizeLimit)}`];
    return {
      destination: mount.mountPath,
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'nodev', 'mode=1777', ...size],
    };
  });
}

/**
 * The OCI runtime config a runtime (containerd) makes of a pod's container:
 * added capabilities in the bounding, effective and permitted sets, none
 * ambient (so a non-root process keeps only what a program's file
 * capabilities give it at exec); allowPrivilegeEscalation: false is
 * no_new_privs; readOnlyRootFilesystem a read-only root; the host network a
 * join of the node's namespace. The function bundles are bind-mounted where
 * the Dockerfile copies them.
 */
function ociConfig(spec: PodContainer, image: { rootfs: string; bundleDir: string }): object {
  const { container, pod } = spec;
  const security = container.securityContext ?? {};
  if (pod.hostNetwork !== true) throw new Error('only host-network pods are translated');
  if (!security.capabilities?.drop?.includes('ALL')) throw new Error('only "drop: [ALL]" is translated');
  if (security.runAsNonRoot === true && (security.runAsUser ?? 0) === 0)
    throw new Error('runAsNonRoot with uid 0');
  const caps = (security.capabilities.add ?? []).map((cap) => `CAP_${cap}`);
  const memory = container.resources?.limits?.memory;
  return {
    ociVersion: '1.0.2',
    root: { path: image.rootfs, readonly: security.readOnlyRootFilesystem === true },
    process: {
      terminal: false,
      user: { uid: security.runAsUser ?? 0, gid: security.runAsGroup ?? 0 },
      args: [...(container.command ?? []), ...(container.args ?? [])],
      env: envOf(container),
      cwd: '/',
      noNewPrivileges: security.allowPrivilegeEscalation === false,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
    },
    hostname: spec.name,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/opt/netmon', type: 'bind', source: image.bundleDir, options: ['rbind', 'ro'] },
      ...volumeMounts(spec),
      ...(spec.terminationLog === undefined
        ? []
        : [
            {
              destination: container.terminationMessagePath ?? '/dev/termination-log',
              type: 'bind',
              source: spec.terminationLog,
              options: ['rbind', 'rw'],
            },
          ]),
    ],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'network', path: `/run/netns/${spec.netns}` },
      ],
      ...(memory === undefined ? {} : { resources: { memory: { limit: bytesOf(memory) } } }),
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

function onNode(node: string, pod: V1PodSpec, container: V1Container, name = container.name): PodContainer {
  return { name, netns: cluster.node(node).netns, pod, container };
}

function serverSpec(): V1PodSpec {
  const spec = serverPod(request, context, settings).spec;
  if (spec === undefined) throw new Error('serverPod has no spec');
  return spec;
}

function clientSpec(): V1PodSpec {
  const spec = clientPod(request, context, settings, cluster.node('b').address).spec;
  if (spec === undefined) throw new Error('clientPod has no spec');
  return spec;
}

function containerOf(spec: V1PodSpec, name: string): V1Container {
  const container = spec.containers.find((c) => c.name === name);
  if (container === undefined) throw new Error(`no container ${name}`);
  return container;
}

/** Uid, capability sets and no_new_privs of a host process, from /proc. */
async function credentialsOf(pid: number): Promise<Record<string, string>> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const wanted = ['Uid', 'Gid', 'CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'NoNewPrivs'];
  return Object.fromEntries(
    status
      .split('\n')
      .map((line) => line.split(':\t'))
      .filter((parts): parts is [string, string] => wanted.includes(parts[0] ?? '') && parts[1] !== undefined)
      .map(([key, value]) => [key, value.trim()]),
  );
}

async function listening(node: string, protocol: '-t' | '-u', port: number): Promise<boolean> {
  const ss = await runProcess([...cluster.prefix(node), 'ss', '-Hln', protocol, 'sport', '=', `:${port}`], {
    timeoutMs: 10_000,
  });
  return ss.stdout.includes(`:${port}`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-flent-image-'));
  // Warm: a hash and a path. Cold (no CI step before): a few minutes.
  const built = await runProcess(['bash', ROOTFS_SH], { timeoutMs: 15 * 60_000 });
  const path = /^flent-rootfs=(.+)$/m.exec(built.stdout)?.[1];
  if (built.exitCode !== 0 || path === undefined)
    throw new Error(`rootfs.sh failed (${built.exitCode}): ${built.stderr.slice(-2000)}`);
  rootfs = path;

  // The bundles as the Dockerfile ships them; copied per run, the cached rootfs stays untouched.
  const bundleDir = join(dir, 'opt-netmon');
  await mkdir(bundleDir);
  for (const file of (await readdir(DIST)).filter((f) => f.endsWith('.js') || f === 'package.json'))
    await copyFile(join(DIST, file), join(bundleDir, file));
  await chmod(bundleDir, 0o755);
  runc = new Runc(dir, { rootfs, bundleDir });

  cluster = await SimCluster.create({
    nodes: [{ name: 'a', rateBitsPerSecond: RATE }, { name: 'b' }, { name: 'c' }],
    hostAddress: true,
  });
  // Node a as a systemd host; node c keeps the kernel's default (no ICMP datagram sockets).
  await runChecked(
    [...cluster.prefix('a'), 'sysctl', '-w', `net.ipv4.ping_group_range=${SYSTEMD_PING_GROUP_RANGE}`],
    (m) => new Error(m),
  );
  s3 = await startLocalS3(join(dir, 's3'), 'netmon', cluster.hostAddress);
  request = {
    src: { name: 'a', address: cluster.node('a').address },
    dst: { name: 'b', address: cluster.node('b').address },
    test: 'tcp_upload',
    lengthSeconds: LENGTH_SECONDS,
    delaySeconds: 1,
    schedule: context.schedule,
  };
  // As the probe's Kubernetes runner sets them up (layers/wiring/context.ts).
  settings = {
    namespace: 'netmon',
    image: 'k8s-netmon:runc',
    hostNetwork: true,
    s3CredentialsSecret: S3_SECRET.name,
    s3Env: {
      NETMON_S3_BUCKET: s3.bucket,
      NETMON_S3_REGION: 'us-east-1',
      NETMON_S3_FORCE_PATH_STYLE: 'true',
      NETMON_S3_CHECKSUMS: 'WHEN_REQUIRED',
      NETMON_S3_ENDPOINT: s3.endpoint,
    },
    agentCommand: ['node', '/opt/netmon/agent.js'],
    slackSeconds: 60,
    ports: DEFAULT_SERVER_PORTS,
  };

  const server = serverSpec();
  await runc.start(onNode('b', server, containerOf(server, 'netserver')));
  await runc.start(onNode('b', server, containerOf(server, 'irtt')));
  await waitFor('netserver in its container', () => listening('b', '-t', DEFAULT_SERVER_PORTS.netserver));
  await waitFor('irtt server in its container', () => listening('b', '-u', DEFAULT_SERVER_PORTS.irtt));
}, 16 * 60_000);

afterAll(async () => {
  await runc?.removeAll();
  await cluster?.destroy();
  await s3?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('the Flent image (runc on the rootfs.sh tree)', () => {
  it('holds the image packages of packages.txt, netperf through the non-free pin, no file capability, no setuid', async () => {
    const lines = (await runChecked(['bash', PROVISION_SH, 'packages', PACKAGES_TXT], (m) => new Error(m)))
      .trim()
      .split('\n')
      .map((line) => line.split(' ') as [string, string]);
    const status = await runChecked(
      ['dpkg-query', `--admindir=${join(rootfs, 'var/lib/dpkg')}`, '--status', ...lines.map(([pkg]) => pkg)],
      (m) => new Error(m),
    );
    const installed = status
      .split('\n\n')
      .filter((entry) => /^Status: install ok installed$/m.test(entry))
      .map((entry) => /^Package: (\S+)$/m.exec(entry)?.[1]);
    expect(installed.sort()).toEqual(lines.map(([pkg]) => pkg).sort());

    const nonFree = lines.filter(([, component]) => component === 'non-free').map(([pkg]) => pkg);
    expect(nonFree).toContain('netperf');
    const pin = await readFile(join(rootfs, 'etc/apt/preferences.d/netmon-non-free'), 'utf8');
    expect(pin).toBe(
      `Package: *\nPin: release c=non-free\nPin-Priority: -1\n${nonFree
        .map((pkg) => `\nPackage: ${pkg}\nPin: release c=non-free\nPin-Priority: 500\n`)
        .join('')}`,
    );

    // No file capability anywhere: under no_new_privs the kernel refuses to execute a program whose
    // file capability exceeds the bounding set (EPERM), and the agent has no capability at all.
    const caps = await runChecked(
      ['sh', '-c', 'find "$1" -xdev -type f -perm /111 -print0 | xargs -0 -r getcap', 'sh', rootfs],
      (m) => new Error(m),
    );
    expect(caps.trim()).toBe('');
    const setuid = await runChecked(
      ['find', rootfs, '-xdev', '-type', 'f', '-perm', '/6000'],
      (m) => new Error(m),
    );
    expect(setuid.trim()).toBe('');
  });

  it('runs the tools as uid 65532 on a read-only root with a writable /tmp', async () => {
    const client = clientSpec();
    const probe = {
      ...containerOf(client, 'agent'),
      command: [
        'sh',
        '-c',
        'id -u; id -g; for p in flent netperf netserver fping ping irtt node; do command -v "$p"; done; ' +
          'node --version; flent --version; touch /tmp/ok && echo tmp-writable; touch /etc/x 2>&1 || true',
      ],
    };
    const result = await runc.run(onNode('a', client, probe, 'tools'));
    expect(result.exitCode, result.stderr).toBe(0);
    const out = result.stdout.split('\n');
    expect(out.slice(0, 2)).toEqual([String(USER_ID), String(USER_ID)]);
    for (const program of ['flent', 'netperf', 'netserver', 'fping', 'ping', 'irtt'])
      expect(out).toContain(`/usr/bin/${program}`);
    expect(out).toContain('/usr/local/bin/node');
    expect(result.stdout).toMatch(/^v24\.\d+\.\d+$/m);
    expect(result.stdout).toMatch(/Flent v2\.\d/);
    expect(out).toContain('tmp-writable');
    expect(result.stdout).toMatch(/touch: cannot touch '\/etc\/x': Read-only file system/);
  });

  it("starts the chart's functions (node /opt/netmon/<fn>.js): each loads and names a missing setting", async () => {
    const server = serverSpec();
    // The CronJobs' container, as k8s/netmon/templates/cronjobs.yaml hardens it (no capability at all).
    const functions = {
      ...containerOf(server, 'netserver'),
      name: 'functions',
      command: ['sh', '-c', 'for fn in plan probe render; do node "/opt/netmon/$fn.js"; echo "$fn=$?"; done'],
      env: [],
    };
    const result = await runc.run(onNode('b', server, functions));
    for (const fn of ['plan', 'probe', 'render']) {
      expect(result.stderr).toMatch(
        new RegExp(`^${fn}: NETMON_[A-Z0-9_]+: undefined \\(missing\\) is not valid`, 'm'),
      );
      expect(result.stdout).toMatch(new RegExp(`^${fn}=[1-9]`, 'm'));
    }
  });

  it('runs the server pod: netserver and irtt as 65532 with no capabilities, no_new_privs', async () => {
    for (const name of ['netserver', 'irtt']) {
      const pid = await runc.pid(name);
      expect(pid, `${name} is running`).toBeDefined();
      const credentials = await credentialsOf(pid as number);
      expect(credentials.Uid).toBe(`${USER_ID}\t${USER_ID}\t${USER_ID}\t${USER_ID}`);
      expect(credentials.Gid).toBe(`${USER_ID}\t${USER_ID}\t${USER_ID}\t${USER_ID}`);
      expect(BigInt(`0x${credentials.CapBnd}`)).toBe(0n);
      expect(BigInt(`0x${credentials.CapEff}`)).toBe(0n);
      expect(credentials.NoNewPrivs).toBe('1');
    }
  });

  it('runs the client pod: the agent measures A->B, stores the archive in S3 and reports through the termination log', async () => {
    const log = join(dir, 'termination-log');
    // Like the kubelet: the file exists before the container starts, writable by any uid.
    await writeFile(log, '');
    await chmod(log, 0o666);
    const client = clientSpec();
    const agent = await runc.start({
      ...onNode('a', client, containerOf(client, 'agent')),
      terminationLog: log,
    });

    let credentials: Record<string, string> = {};
    await waitFor('the agent container running', async () => {
      const pid = await runc.pid('agent');
      if (pid !== undefined) credentials = await credentialsOf(pid).catch(() => ({}));
      return credentials.Uid !== undefined || !agent.running;
    });
    const result = await agent.done;
    expect(result.exitCode, result.stderr).toBe(0);
    // node, as 65532, with no capability at all (not even in the bounding set); no_new_privs.
    expect(credentials.Uid).toBe(`${USER_ID}\t${USER_ID}\t${USER_ID}\t${USER_ID}`);
    expect(BigInt(`0x${credentials.CapBnd}`)).toBe(0n);
    expect(BigInt(`0x${credentials.CapEff}`)).toBe(0n);
    expect(credentials.NoNewPrivs).toBe('1');

    const report = await readFile(log, 'utf8');
    expect(Buffer.byteLength(report)).toBeLessThanOrEqual(4096);
    const decoded = decodeReport(report);
    if (!decoded.outcome.ok)
      throw new Error(`the agent measured nothing: ${JSON.stringify(decoded.outcome)}`);
    const measured = decoded.outcome.summary.throughput.upload.total?.mean ?? 0;
    expect(relativeDifference(measured, RATE), `${measured} bit/s against ${RATE}`).toBeLessThan(0.1);
    expect(decoded.outcome.summary.latency['Ping (ms) ICMP']?.count).toBeGreaterThan(0);

    expect(decoded.archiveKey).toMatch(/^archives\/image\/\d{4}\/\d{2}\/\d{2}\/a\/b\/tcp_upload-/);
    const store = storeFrom({ ...settings.s3Env, ...S3_SECRET.data });
    const bytes = await store.getBytes(decoded.archiveKey ?? '');
    expect(bytes, 'archive in S3').toBeDefined();
    const archive = parseArchive(bytes ?? new Uint8Array(), decoded.archiveKey ?? '');
    expect(archive.metadata.NAME).toBe('tcp_upload');
    expect(archive.metadata.HOST).toBe(cluster.node('b').address);
    // Unprivileged, fping 5.1 gets no reply unless its socket is bound first (layers/flent/run.ts
    // passes -S 0.0.0.0; flent does not): flent finds fping unusable and pings with iputils ping over
    // an ICMP datagram socket (node a's ping_group_range).
    expect(archive.metadata.SERIES_META['Ping (ms) ICMP']?.COMMAND).toMatch(/^\/usr\/bin\/ping /);
    // ip, tc and sysctl in the image: flent records the node's egress qdisc and TCP settings.
    expect(JSON.stringify(archive.metadata.EGRESS_INFO)).toContain('"tbf"');
    expect(JSON.stringify(archive.metadata.SYSCTLS)).toContain('net.ipv4.tcp_congestion_control');
  }, 90_000);

  it('ICMP for 65532 without any capability: datagram sockets where ping_group_range allows gid 65532', async () => {
    const client = clientSpec();
    const agent = containerOf(client, 'agent');
    const target = cluster.node('b').address;
    // The product's own reachability check (fping -S 0.0.0.0 ...), then iputils ping (flent's fallback).
    const check = icmpCheckArgv(target, 'fping').join(' ');
    const ping = (node: string, name: string): Promise<RunResult> =>
      runc.run(
        onNode(
          node,
          client,
          {
            ...agent,
            command: ['sh', '-c', `${check}; echo "fping=$?"; ping -c 1 -W 1 ${target}; echo "ping=$?"`],
          },
          name,
        ),
      );
    // Node c: the kernel's ping_group_range ("1 0"): no ICMP socket for 65532 at all.
    const kernelDefault = await ping('c', 'icmp-nnp');
    // fping's exit 4 is its "system call failure" (no socket); its message may not be flushed before exit.
    expect(kernelDefault.stdout).toContain('fping=4');
    expect(kernelDefault.stdout).toMatch(/ping=[1-9]/);
    // Node a, as a systemd host ("0 2147483647"): both work over datagram sockets.
    const systemd = await ping('a', 'icmp-dgram');
    expect(systemd.stdout).toContain('fping=0');
    expect(systemd.stderr).toMatch(/min\/avg\/max/);
    expect(systemd.stdout).toContain('ping=0');
  });
});
