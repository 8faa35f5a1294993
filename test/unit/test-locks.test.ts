import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { TestLock, TestLocks } from '../../layers/domain/lock.ts';
import { nodeLeaseName } from '../../layers/k8s/lease.ts';
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
