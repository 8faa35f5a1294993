import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../../infra/cluster/control-plane.ts';
import { LockError } from '../../layers/core/errors.ts';
import { waitFor } from '../../layers/core/process.ts';
import type { LockScope, TestLocks } from '../../layers/domain/lock.ts';
import type { RoundManifest } from '../../layers/domain/round.ts';
import { DEFAULT_SERVER_PORTS } from '../../layers/domain/test-types.ts';
import { forWrite, LeaseTestLocks, NODE_ANNOTATION, nodeLeaseName } from '../../layers/k8s/lease.ts';
import { KubeNodeSource } from '../../layers/k8s/nodes.ts';
import { KubernetesRunner } from '../../layers/k8s/runner.ts';
import { LocalRunner } from '../../layers/local-runner/runner.ts';
import { acquireInOrder } from '../../layers/pipeline/lock-order.ts';
import { plan } from '../../layers/pipeline/plan.ts';
import { type ProbeEvent, probe } from '../../layers/pipeline/probe.ts';
import { loadManifest } from '../../layers/pipeline/round.ts';
import { FileTestLocks } from '../../layers/pipeline/test-lock.ts';
import { planDepsFrom, probeDepsFrom, schedulesFrom, storeFrom } from '../../layers/wiring/context.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';

/**
 * The test locks against real peers: lock files on this host's file system,
 * Leases on a real kube-apiserver (infra/cluster/control-plane.ts). Per node
 * locks taken in one order: disjoint holders at once, overlapping ones
 * apart, serial tests one at a time, no deadlock under random load. A Lease
 * taken over aborts its holder's test; expiry is judged by observation, not
 * by the holder's clock; an API server that is away for 12 s is waited for.
 */
const NAMESPACE = 'netmon-locks';

let cp: ControlPlane;
let coordination: CoordinationV1Api;
let dir: string;

beforeAll(async () => {
  cp = await startControlPlane();
  coordination = cp.kubeconfig.makeApiClient(CoordinationV1Api);
  await cp.kubeconfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
  dir = await mkdtemp(join(tmpdir(), 'netmon-locks-'));
}, 5 * 60_000);

afterAll(async () => {
  // The control plane's data dir goes with it: every Lease of these tests.
  await cp?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}, 60_000);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A small seeded generator: the same scopes in the same order each run (who gets which depends on timing). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Who is in a test right now: a node in two holders, or two holders of the cluster lock, is a violation. */
class Occupancy {
  private readonly nodes = new Map<string, string>();
  private cluster: string | undefined;
  readonly violations: string[] = [];
  holders = 0;
  maxHolders = 0;

  enter(holder: string, scope: LockScope): void {
    if (scope.cluster) {
      if (this.cluster !== undefined) this.violations.push(`${holder} and ${this.cluster} both serial`);
      this.cluster = holder;
    }
    for (const node of scope.nodes) {
      const other = this.nodes.get(node);
      if (other !== undefined && other !== holder)
        this.violations.push(`node ${node} in ${holder} and ${other}`);
      this.nodes.set(node, holder);
    }
    this.holders++;
    this.maxHolders = Math.max(this.maxHolders, this.holders);
  }

  leave(holder: string, scope: LockScope): void {
    if (scope.cluster && this.cluster === holder) this.cluster = undefined;
    for (const node of scope.nodes) if (this.nodes.get(node) === holder) this.nodes.delete(node);
    this.holders--;
  }
}

const NODES = ['node-a', 'node-b', 'node-c', 'node-d', 'node-e', 'node-f'];

/** A serial test (the cluster and two nodes) or a slot (two to four nodes, no cluster lock). */
function randomScope(next: () => number): LockScope {
  const shuffled = [...NODES].sort(() => next() - 0.5);
  if (next() < 0.4) return { cluster: true, nodes: shuffled.slice(0, 2) };
  return { cluster: false, nodes: shuffled.slice(0, 2 + Math.floor(next() * 3)) };
}

/** `holders` probes, each taking `rounds` random scopes at once with the others; fails on a deadlock. */
async function randomRun(
  makeLocks: (holder: number) => TestLocks,
  options: { holders: number; rounds: number; holdMs: [number, number]; seed: number; timeoutMs: number },
): Promise<Occupancy> {
  const occupancy = new Occupancy();
  const next = random(options.seed);
  const run = Promise.all(
    Array.from({ length: options.holders }, async (_, i) => {
      const locks = makeLocks(i);
      const holder = `holder-${i}`;
      for (let round = 0; round < options.rounds; round++) {
        const scope = randomScope(next);
        const held = await acquireInOrder(locks, scope, options.timeoutMs);
        occupancy.enter(holder, scope);
        await sleep(options.holdMs[0] + next() * (options.holdMs[1] - options.holdMs[0]));
        occupancy.leave(holder, scope);
        await held();
      }
    }),
  );
  const deadlock = sleep(options.timeoutMs).then(() => {
    throw new Error(`not done in ${options.timeoutMs} ms: a deadlock`);
  });
  await Promise.race([run, deadlock]);
  return occupancy;
}

/** Each kind of lock, one TestLocks per probe (identity), as separate probes would have them. */
const KINDS: Array<{ kind: string; locks: (identity: string) => TestLocks }> = [
  {
    kind: 'lock files',
    locks: () => new FileTestLocks(join(dir, 'test.lock'), { pollMs: 20 }),
  },
  {
    kind: 'Leases',
    locks: (identity) =>
      new LeaseTestLocks(coordination, {
        namespace: NAMESPACE,
        identity,
        leaseDurationSeconds: 10,
        pollMs: 100,
      }),
  },
];

describe.each(KINDS)('per-node test locks: $kind', ({ locks }) => {
  it('lets slots on disjoint nodes hold at once, and a serial test beside them on other nodes', async () => {
    const first = await acquireInOrder(
      locks('probe-1'),
      { cluster: false, nodes: ['node-b', 'node-a'] },
      2000,
    );
    const second = await acquireInOrder(
      locks('probe-2'),
      { cluster: false, nodes: ['node-c', 'node-d'] },
      2000,
    );
    const serial = await acquireInOrder(
      locks('probe-3'),
      { cluster: true, nodes: ['node-e', 'node-f'] },
      2000,
    );
    for (const held of [serial, second, first]) {
      expect(held.signal.aborted).toBe(false);
      await held();
    }
  });

  it('keeps holders of one node apart, and gives back what it took when it cannot have all', async () => {
    const first = await acquireInOrder(
      locks('probe-1'),
      { cluster: false, nodes: ['node-a', 'node-b'] },
      2000,
    );
    // node-c sorts after node-b: taken, then given back when node-b stays held.
    await expect(
      acquireInOrder(locks('probe-2'), { cluster: false, nodes: ['node-c', 'node-b'] }, 1000),
    ).rejects.toThrow(LockError);
    const third = await acquireInOrder(locks('probe-3'), { cluster: false, nodes: ['node-c'] }, 1000);
    await third();
    await first();
    const second = await acquireInOrder(
      locks('probe-2'),
      { cluster: false, nodes: ['node-c', 'node-b'] },
      2000,
    );
    await second();
  });

  it('runs serial tests one at a time, even on disjoint nodes', async () => {
    const first = await acquireInOrder(
      locks('probe-1'),
      { cluster: true, nodes: ['node-a', 'node-b'] },
      2000,
    );
    await expect(
      acquireInOrder(locks('probe-2'), { cluster: true, nodes: ['node-c', 'node-d'] }, 1000),
    ).rejects.toThrow(LockError);
    await first();
    const second = await acquireInOrder(
      locks('probe-2'),
      { cluster: true, nodes: ['node-c', 'node-d'] },
      2000,
    );
    await second();
  });
});

describe('per-node test locks under random concurrent acquisitions', () => {
  it('lock files: 8 probes x 12 tests, no deadlock, never a node in two tests nor two serial tests', async () => {
    const occupancy = await randomRun(() => new FileTestLocks(join(dir, 'random.lock'), { pollMs: 10 }), {
      holders: 8,
      rounds: 12,
      holdMs: [10, 60],
      seed: 1,
      timeoutMs: 90_000,
    });
    expect(occupancy.violations).toEqual([]);
    expect(occupancy.maxHolders).toBeGreaterThan(1);
  }, 120_000);

  it('Leases: 5 probes x 5 tests on the API server, no deadlock, never a node in two tests nor two serial tests', async () => {
    const occupancy = await randomRun(
      (i) =>
        new LeaseTestLocks(coordination, {
          namespace: NAMESPACE,
          identity: `random-${i}`,
          leaseDurationSeconds: 10,
          pollMs: 100,
        }),
      { holders: 5, rounds: 5, holdMs: [100, 400], seed: 2, timeoutMs: 150_000 },
    );
    expect(occupancy.violations).toEqual([]);
    expect(occupancy.maxHolders).toBeGreaterThan(1);
  }, 180_000);
});

/** Writes the Lease as another probe would: holder and renewTime of our choosing. */
async function writeLease(
  name: string,
  holder: string,
  renewTime: Date,
  durationSeconds = 3,
): Promise<V1Lease> {
  const current = await coordination
    .readNamespacedLease({ name, namespace: NAMESPACE })
    .catch(() => undefined);
  const spec = forWrite({ holderIdentity: holder, leaseDurationSeconds: durationSeconds, renewTime });
  if (current === undefined)
    return coordination.createNamespacedLease({ namespace: NAMESPACE, body: { metadata: { name }, spec } });
  return coordination.replaceNamespacedLease({
    name,
    namespace: NAMESPACE,
    body: { metadata: current.metadata ?? {}, spec },
  });
}

function leaseLocks(identity: string, leaseDurationSeconds = 3): LeaseTestLocks {
  return new LeaseTestLocks(coordination, {
    namespace: NAMESPACE,
    identity,
    leaseDurationSeconds,
    pollMs: 100,
  });
}

describe('node Leases', () => {
  it('are named from the node and say which node they are for', async () => {
    const held = await leaseLocks('namer').node('Node_1.example').acquire(2000);
    const lease = await coordination.readNamespacedLease({
      name: nodeLeaseName('Node_1.example'),
      namespace: NAMESPACE,
    });
    expect(lease.metadata?.name).toMatch(/^netmon-test-node-node-1-example-[0-9a-f]{10}$/);
    expect(lease.metadata?.annotations?.[NODE_ANNOTATION]).toBe('Node_1.example');
    expect(lease.spec?.holderIdentity).toBe('namer');
    await held();
    const freed = await coordination.readNamespacedLease({
      name: nodeLeaseName('Node_1.example'),
      namespace: NAMESPACE,
    });
    expect(freed.spec?.holderIdentity).toBeUndefined();
  });

  it('aborts its holder within the renew period when another probe takes it over', async () => {
    const held = await leaseLocks('victim').node('takeover').acquire(2000);
    await sleep(500);
    const taken = Date.now();
    await writeLease(nodeLeaseName('takeover'), 'intruder', new Date());
    // Renewed every third of 3 s: the next renewal finds the intruder.
    await waitFor('the holder to know', async () => held.signal.aborted, { timeoutMs: 5000, intervalMs: 20 });
    const noticedMs = Date.now() - taken;
    expect(noticedMs).toBeLessThanOrEqual(1000 + 600);
    expect(String(held.signal.reason)).toMatch(/lost the test lease .*: taken by intruder/);
    // Released after the loss: the intruder's lease stays the intruder's.
    await held();
    const lease = await coordination.readNamespacedLease({
      name: nodeLeaseName('takeover'),
      namespace: NAMESPACE,
    });
    expect(lease.spec?.holderIdentity).toBe('intruder');
  });

  it('judges expiry by what it sees change, not by the holder clock: a live holder 60 s behind is not taken', async () => {
    const name = nodeLeaseName('behind');
    let renewing = true;
    // A live holder whose clock is 60 s behind ours: its renewTime is always "old", but it changes every second.
    const holder = (async () => {
      while (renewing) {
        await writeLease(name, 'skewed-behind', new Date(Date.now() - 60_000));
        await sleep(1000);
      }
    })();
    try {
      await sleep(200);
      await expect(leaseLocks('waiter').node('behind').acquire(8000)).rejects.toThrow(LockError);
    } finally {
      renewing = false;
      await holder;
    }
  }, 30_000);

  it('takes a dead holder lease after its duration of no change, though its renewTime is 60 s ahead', async () => {
    await writeLease(nodeLeaseName('ahead'), 'skewed-ahead-dead', new Date(Date.now() + 60_000));
    const started = Date.now();
    const held = await leaseLocks('taker').node('ahead').acquire(20_000);
    const waited = Date.now() - started;
    // First seen at once, unchanged for 3 s, taken at the next poll (100 ms) with the API calls' time.
    expect(waited).toBeGreaterThanOrEqual(3000);
    expect(waited).toBeLessThan(5000);
    await held();
  }, 30_000);
});

/**
 * A TCP relay in front of the API server that can be cut: new connections
 * refused (nothing listens), open ones reset; then opened again on the same
 * port. What a client sees while the API server restarts.
 */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  private readonly target: number;

  constructor(target: number) {
    this.target = target;
  }

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
    for (const socket of this.sockets) socket.resetAndDestroy();
    await closed;
  }
}

/** The control plane's admin kubeconfig, through the relay. */
function through(relay: Relay): KubeConfig {
  const source = cp.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: source.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${relay.port}` })),
    users: source.users,
    contexts: source.contexts,
    currentContext: source.currentContext,
  });
  return kc;
}

describe('the API server away for 12 s (a restart)', () => {
  it('keeps a held Lease, and a Lease acquire, a node list and a pod list started meanwhile succeed after it', async () => {
    const server = new URL(cp.server);
    const relay = new Relay(Number(server.port));
    await relay.open();
    const kc = through(relay);
    try {
      const locks = new LeaseTestLocks(kc.makeApiClient(CoordinationV1Api), {
        namespace: NAMESPACE,
        identity: 'steady',
        leaseDurationSeconds: 30,
        pollMs: 200,
      });
      const held = await locks.node('steady-a').acquire(5000);
      // MicroTime comes back as the string the API server wrote.
      const renewTime = async (): Promise<string> =>
        String(
          (await coordination.readNamespacedLease({ name: nodeLeaseName('steady-a'), namespace: NAMESPACE }))
            .spec?.renewTime,
        );
      const renewedBefore = await renewTime();
      const core = kc.makeApiClient(CoreV1Api);
      await relay.cut();
      const cutAt = Date.now();
      // Started while nothing answers: each must wait for the API server, not fail.
      const acquiring = locks.node('steady-b').acquire(60_000);
      const listingNodes = new KubeNodeSource(core).list();
      const cleaning = new KubernetesRunner(core, {
        namespace: NAMESPACE,
        image: 'unused',
        hostNetwork: true,
        s3Env: {},
        agentCommand: [],
        ports: DEFAULT_SERVER_PORTS,
        slackSeconds: 60,
        serverReadyTimeoutSeconds: 5,
      }).cleanupStale(0, ['nowhere']);
      // The first renewal (10 s after taking) falls in the outage.
      await sleep(12_000);
      await relay.open();
      const [second, nodes, cleaned] = await Promise.all([acquiring, listingNodes, cleaning]);
      const outageMs = Date.now() - cutAt;
      expect(outageMs).toBeGreaterThanOrEqual(12_000);
      expect(nodes).toEqual([]);
      expect(cleaned).toBe(0);
      expect(second.signal.aborted).toBe(false);
      await waitFor(
        'the held Lease to be renewed after the outage',
        async () => (await renewTime()) !== renewedBefore,
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      expect(held.signal.aborted).toBe(false);
      await second();
      await held();
    } finally {
      await relay.cut();
    }
  }, 90_000);

  it('retries 503 and 429 answers with backoff, and gives up at once on a 403', async () => {
    let calls = 0;
    let failFor = 4;
    let status = 503;
    const server: HttpServer = createHttpServer((_request, response) => {
      calls++;
      if (calls <= failFor) {
        response.writeHead(calls % 2 === 0 ? 429 : status, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ kind: 'Status', code: status, message: 'not now' }));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          kind: 'NodeList',
          apiVersion: 'v1',
          metadata: {},
          items: [
            {
              metadata: { name: 'n1' },
              status: {
                addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
                conditions: [{ type: 'Ready', status: 'True' }],
              },
            },
          ],
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [
          {
            name: 'c',
            server: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
            skipTLSVerify: true,
          },
        ],
        users: [{ name: 'u' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      const source = new KubeNodeSource(kc.makeApiClient(CoreV1Api));
      const started = Date.now();
      expect((await source.list()).map((n) => n.name)).toEqual(['n1']);
      expect(calls).toBe(5);
      // Four waits from 250 ms doubling, each between half and all of it: 1.9 s to 3.75 s.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1800);
      calls = 0;
      failFor = 100;
      status = 403;
      const refused = Date.now();
      await expect(source.list()).rejects.toThrow();
      // 403 is never retried; the 429 at call 2 would have been, but the 403 came first.
      expect(calls).toBe(1);
      expect(Date.now() - refused).toBeLessThan(1000);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 30_000);
});

describe('a probe whose node Lease is taken over mid-test', () => {
  let fixture: StackFixture;

  beforeAll(async () => {
    fixture = await startStackFixture({ visibilityTimeoutSeconds: 30 });
  }, 120_000);

  afterAll(async () => {
    await fixture?.stop();
  }, 60_000);

  it('stops the test and records the pair as skipped for lock-lost, with no result or metrics; the next pair is tested', async () => {
    // Two "nodes" on this host's loopback, their servers on ports nobody else uses.
    const ports = {
      netserver: 21_000 + Math.floor(Math.random() * 2000),
      irtt: 23_000 + Math.floor(Math.random() * 2000),
    };
    await fixture.writeNodes([
      { name: 'lost-a', address: '127.0.0.1', ready: true, labels: {} },
      { name: 'lost-b', address: '127.0.0.1', ready: true, labels: {} },
    ]);
    const env = {
      ...fixture.env,
      NETMON_SCHEDULES: JSON.stringify([
        { name: 'lost', cron: '* * * * *', test: 'tcp_upload', lengthSeconds: 6, delaySeconds: 1 },
      ]),
    };
    const [opened] = await plan(await planDepsFrom(env), await (await schedulesFrom(env)).list());
    expect(opened?.action).toBe('opened');
    const round = opened?.round as string;

    const published: string[] = [];
    const events: Array<ProbeEvent & { at: number }> = [];
    let intrusion: Promise<void> | undefined;
    let intrudedAt = 0;
    const report = await probe({
      ...(await probeDepsFrom(env)),
      runner: new LocalRunner({ workDir: join(dir, 'runs'), ports }),
      locks: leaseLocks('probe-lost'),
      publish: async (record) => {
        published.push(`${record.src}>${record.dst}`);
      },
      budgetSeconds: 120,
      waitSeconds: 1,
      onTest: (event) => {
        events.push({ ...event, at: Date.now() });
        if (event.kind === 'started' && intrusion === undefined) {
          // Two seconds into the first test, another probe writes the src's Lease as its own.
          intrusion = sleep(2000).then(async () => {
            intrudedAt = Date.now();
            await writeLease(nodeLeaseName(event.src), 'intruder', new Date());
          });
        }
      },
    });
    await intrusion;
    const first = events.find((e) => e.kind === 'started');
    const skipped = events.find((e) => e.kind === 'skipped');
    expect(skipped).toMatchObject({ src: first?.src, dst: first?.dst });
    expect(skipped?.kind === 'skipped' && skipped.reason).toMatch(
      /^lock-lost: lost the test lease .*taken by intruder/,
    );
    // Found at the next renewal (a third of 3 s), then flent and the servers stopped.
    expect((skipped?.at ?? 0) - intrudedAt).toBeLessThan(1000 + 4000);
    expect(report).toMatchObject({ tests: 1, failures: 0, skipped: 1 });

    const manifest = (await loadManifest(storeFrom(env), 'lost', round)) as RoundManifest;
    const lostPair = manifest.pairs.find((p) => p.src === first?.src && p.dst === first?.dst);
    expect(lostPair).toMatchObject({ state: 'skipped', connectivity: null });
    expect(lostPair?.reason).toMatch(/^lock-lost: /);
    const other = manifest.pairs.find((p) => p !== lostPair);
    expect(other).toMatchObject({ state: 'done', connectivity: 1 });
    // Not a network finding: no result object and no metrics for the lost pair.
    const results = await storeFrom(env).list(`results/lost/${round}/`);
    expect(results).toHaveLength(1);
    expect(published).toEqual([`${other?.src}>${other?.dst}`]);
  }, 120_000);
});
