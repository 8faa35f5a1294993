import { ApiException, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HeldLock, TestLock, TestLocks } from '../../layers/domain/lock.ts';
import { LeaseTestLock, nodeLeaseName } from '../../layers/k8s/lease.ts';
import { isTransientApiError } from '../../layers/k8s/retry.ts';
import { lockOrder, lockScopeOf } from '../../layers/pipeline/lock-order.ts';
import { nodeLockPath } from '../../layers/pipeline/test-lock.ts';

/** What Kubernetes checks a Lease name against (IsDNS1123Subdomain). */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const NAMES = [
  'node-1',
  'ip-10-0-0-1.eu-west-1.compute.internal',
  'Node_1',
  'node.1',
  '..',
  '-',
  'ünïcode node',
  'a/b',
  'x'.repeat(253),
];

describe('node lease names', () => {
  it.each(NAMES)('makes a valid, stable Lease name of %j', (node) => {
    const name = nodeLeaseName(node);
    expect(name).toMatch(DNS1123_SUBDOMAIN);
    expect(name.length).toBeLessThanOrEqual(253);
    expect(name.startsWith('netmon-test-node-')).toBe(true);
    expect(nodeLeaseName(node)).toBe(name);
  });

  it('keeps names apart that sanitise alike', () => {
    const names = ['node-1', 'Node_1', 'node.1', 'NODE-1', `${'x'.repeat(253)}`, `${'x'.repeat(252)}y`];
    expect(new Set(names.map(nodeLeaseName)).size).toBe(names.length);
  });

  it('stays readable for a plain node name', () => {
    expect(nodeLeaseName('node-1')).toMatch(/^netmon-test-node-node-1-[0-9a-f]{10}$/);
  });
});

describe('node lock files', () => {
  it.each(NAMES)('puts %j in its own file beside the lock file', (node) => {
    const path = nodeLockPath('/tmp/netmon/test.lock', node);
    expect(path.startsWith('/tmp/netmon/test.lock.node-')).toBe(true);
    const file = path.slice('/tmp/netmon/'.length);
    expect(file).not.toContain('/');
    expect(file.length).toBeLessThanOrEqual(200);
  });

  it('never gives two nodes one file', () => {
    const names = [...NAMES, 'x'.repeat(252), `${'x'.repeat(252)}y`, 'node_1', 'node%5F1'];
    expect(new Set(names.map((n) => nodeLockPath('/l', n))).size).toBe(names.length);
  });
});

describe('lock order', () => {
  const lock = (name: string): TestLock & { name: string } => ({
    name,
    acquire: () => Promise.reject(new Error('not here')),
  });
  const locks: TestLocks = { cluster: lock('cluster'), node: (name) => lock(name) };
  const names = (scope: Parameters<typeof lockOrder>[1]): string[] =>
    lockOrder(locks, scope).map((entry) => (entry.lock as TestLock & { name: string }).name);

  it('takes the cluster lock first, then each node once, sorted by name', () => {
    expect(names({ cluster: true, nodes: ['node-b', 'node-a'] })).toEqual(['cluster', 'node-a', 'node-b']);
    expect(names({ cluster: false, nodes: ['c', 'a', 'b', 'a', 'C'] })).toEqual(['C', 'a', 'b', 'c']);
  });

  it('gives a serial pair the cluster and its nodes, a slot only its nodes', () => {
    expect(lockScopeOf({ src: 'b', dst: 'a' })).toEqual({ cluster: true, nodes: ['b', 'a'] });
    expect(
      lockScopeOf({
        src: 'a',
        dst: 'b',
        slot: {
          pairs: [
            { src: 'a', dst: 'b' },
            { src: 'd', dst: 'c' },
          ],
        },
      }),
    ).toEqual({ cluster: false, nodes: ['a', 'b', 'd', 'c'] });
  });
});

describe('transient API errors', () => {
  const api = (code: number): ApiException<string> => new ApiException(code, 'x', '', {});
  const system = (code: string): Error =>
    new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });

  it.each([429, 500, 502, 503, 504])('retries HTTP %i', (code) => {
    expect(isTransientApiError(api(code))).toBe(true);
  });

  it.each([400, 401, 403, 404, 409, 410, 422])('does not retry HTTP %i', (code) => {
    expect(isTransientApiError(api(code))).toBe(false);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT'])(
    'retries a connection that failed with %s (undici: in the cause)',
    (code) => {
      expect(isTransientApiError(system(code))).toBe(true);
      // Happy eyeballs: one AggregateError of every address's error.
      expect(
        isTransientApiError(new TypeError('fetch failed', { cause: new AggregateError([system(code)]) })),
      ).toBe(true);
    },
  );

  it('does not retry what a second try cannot change', () => {
    expect(isTransientApiError(new Error('certificate has expired'))).toBe(false);
    expect(isTransientApiError(system('CERT_HAS_EXPIRED'))).toBe(false);
    expect(isTransientApiError(undefined)).toBe(false);
  });
});

describe('a held Lease while the API server is away', () => {
  /**
   * A Lease API in memory whose every call takes 10 ms and, while `down`, is
   * refused as a restarting API server refuses it. Time is faked: the
   * renewal ticks, the retries' waits and the calls are exact.
   */
  function leaseApi() {
    let lease: V1Lease | undefined;
    let version = 0;
    const state = { down: false, calls: 0, renewals: 0 };
    const answer = async <T>(result: () => T): Promise<T> => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      state.calls++;
      if (state.down)
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }),
        });
      return result();
    };
    const store = (body: V1Lease): V1Lease => {
      version++;
      lease = structuredClone({ ...body, metadata: { ...body.metadata, resourceVersion: String(version) } });
      return structuredClone(lease);
    };
    const api = {
      readNamespacedLease: () =>
        answer(() => {
          if (lease === undefined) throw new ApiException(404, 'not found', '', {});
          return structuredClone(lease);
        }),
      createNamespacedLease: ({ body }: { body: V1Lease }) => answer(() => store(body)),
      replaceNamespacedLease: ({ body }: { body: V1Lease }) =>
        answer(() => {
          if (body.metadata?.resourceVersion !== lease?.metadata?.resourceVersion)
            throw new ApiException(409, 'conflict', '', {});
          state.renewals++;
          return store(body);
        }),
    } as unknown as CoordinationV1Api;
    return { api, state };
  }

  /** Takes a 30 s Lease at 0 and turns the API server away over [from, until] (ms); the held lock and the API's counts. */
  async function outage(
    from: number,
    until: number,
  ): Promise<{ held: HeldLock; state: { calls: number; renewals: number } }> {
    const { api, state } = leaseApi();
    const lock = new LeaseTestLock(api, {
      namespace: 'netmon',
      identity: 'probe-1',
      leaseDurationSeconds: 30,
    });
    const acquiring = lock.acquire(1000);
    await vi.advanceTimersByTimeAsync(100);
    const held = await acquiring;
    await vi.advanceTimersByTimeAsync(from - 100);
    state.down = true;
    const callsBefore = state.calls;
    await vi.advanceTimersByTimeAsync(until - from);
    state.down = false;
    const during = state.calls - callsBefore;
    await vi.advanceTimersByTimeAsync(15_000);
    return { held, state: { calls: during, renewals: state.renewals } };
  }

  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
    });
    // The retries' longest waits: their last try before the budget ends comes earliest.
    vi.spyOn(Math, 'random').mockReturnValue(1);
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('keeps it through 8 s away that begin just before a renewal (a failed renewal is tried again until the deadline)', async () => {
    // The renewal at 10 s fails until 17.9 s; the deadline is 20 s after the last renewal (at 0).
    const { held, state } = await outage(9_900, 17_900);
    expect(held.signal.aborted).toBe(false);
    // Renewed after the outage, and every 10 s since.
    expect(state.renewals).toBeGreaterThanOrEqual(2);
    // Tried again every second or so, not in a loop.
    expect(state.calls).toBeLessThan(20);
    const releasing = held();
    await vi.advanceTimersByTimeAsync(100);
    await releasing;
  });

  it('loses it when no renewal succeeds for two thirds of its duration (21 s away)', async () => {
    const { held } = await outage(9_900, 30_900);
    expect(held.signal.aborted).toBe(true);
    expect(String(held.signal.reason)).toMatch(
      /lost the test lease netmon\/netmon-test: not renewed for 20 s/,
    );
  });
});
