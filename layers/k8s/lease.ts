import { createHash } from 'node:crypto';
import {
  ApiException,
  type CoordinationV1Api,
  type V1Lease,
  type V1LeaseSpec,
} from '@kubernetes/client-node';
import { errorLine, LockError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { HeldLock, TestLock, TestLocks } from '../domain/lock.ts';
import { withApiRetry } from './retry.ts';

export interface LeaseLockOptions {
  namespace: string;
  name?: string;
  /** Who we are (pod name); shown in the Lease. */
  identity: string;
  /** A holder that stops renewing for this long loses the lease. */
  leaseDurationSeconds?: number;
  pollMs?: number;
  /** Annotations of the Lease when we create it (which node a node's Lease is for). */
  annotations?: Record<string, string>;
}

/** The cluster's test Lease. */
export const CLUSTER_LEASE = 'netmon-test';
/** Names the node a node's Lease belongs to (the Lease's name is only derived from it). */
export const NODE_ANNOTATION = 'netmon.erigrid.eu/node';

/**
 * A node's Lease name: `netmon-test-node-<the name, lowercase, runs of
 * anything but [a-z0-9] as one "-">-<hash>`. A DNS-1123 subdomain whatever
 * the node is called, and the hash of the exact name keeps "Node_1" and
 * "node-1" apart.
 */
export function nodeLeaseName(node: string): string {
  const sanitised = node
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 200)
    .replace(/^-+|-+$/g, '');
  const hash = createHash('sha256').update(node).digest('hex').slice(0, 10);
  return `netmon-test-node-${sanitised === '' ? '' : `${sanitised}-`}${hash}`;
}

/**
 * Lease times are MicroTime: the API server wants six fractional digits, but
 * the client serializes a Date with three and then fails with 400. It passes
 * strings through unchanged, so every time written goes out as such a string.
 */
function microTime(date: Date | string | undefined): Date | undefined {
  if (date === undefined) return undefined;
  const iso = new Date(date).toISOString();
  return `${iso.slice(0, -1)}000Z` as unknown as Date;
}

/** A Lease spec ready to send: its times as MicroTime strings. */
export function forWrite(spec: V1LeaseSpec): V1LeaseSpec {
  const { acquireTime, renewTime, ...rest } = spec;
  const acquired = microTime(acquireTime);
  const renewed = microTime(renewTime);
  return {
    ...rest,
    ...(acquired === undefined ? {} : { acquireTime: acquired }),
    ...(renewed === undefined ? {} : { renewTime: renewed }),
  };
}

/** The spec with no holder: free for the next probe at once. */
function released(spec: V1LeaseSpec | undefined): V1LeaseSpec {
  const { holderIdentity: _holder, renewTime: _renewed, ...rest } = spec ?? {};
  return forWrite(rest);
}

function isConflict(err: unknown): boolean {
  return err instanceof ApiException && (err.code === 409 || err.code === 422);
}

/** The lease is someone else's now (or nobody's): its holder must stop testing. */
class LeaseLost extends Error {}

/**
 * A test lock held as a coordination.k8s.io Lease, renewed while a test runs.
 * Updates carry the resourceVersion they read, so two probes racing for a
 * free lease cannot both win (409).
 *
 * Expiry is judged as client-go's leader election judges it: by how long,
 * on this probe's own monotonic clock, the holder's record (holder,
 * renewTime, resourceVersion) has stayed unchanged since this probe first saw
 * it so; never by comparing the holder's renewTime with the local clock, which
 * a clock skewed by more than the lease duration would turn into two tests at
 * once (or a dead holder's lease kept for as long as the skew).
 *
 * The holder renews every third of the duration (a failed renewal is tried
 * again every second) and counts the lease lost (its signal aborts) when it
 * finds another holder, or when no renewal has succeeded for two thirds of
 * the duration: a third before anyone else may take it over, time for the
 * test to stop. With the default 30 s (renewals every 10 s, lost after 20
 * s), an API server away for up to 9 s never costs the lease, whenever it
 * goes; away for 21 s or more it always does; in between, it does when the
 * outage leaves too little of the 20 s after the last renewal.
 */
export class LeaseTestLock implements TestLock {
  private readonly api: CoordinationV1Api;
  private readonly options: Required<LeaseLockOptions>;
  /** The record last seen held by someone else, and when (performance.now()) it was first seen. */
  private observed: { record: string; at: number } | undefined;

  constructor(api: CoordinationV1Api, options: LeaseLockOptions) {
    this.api = api;
    this.options = {
      name: CLUSTER_LEASE,
      leaseDurationSeconds: 30,
      pollMs: 500,
      annotations: {},
      ...options,
    };
  }

  private get where(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }

  async acquire(timeoutMs: number, onWait?: () => Promise<void>): Promise<HeldLock> {
    const deadline = Date.now() + timeoutMs;
    let lastWaitHook = Date.now();
    for (;;) {
      const started = performance.now();
      if (await this.tryTake()) return this.holdUntilReleased(started);
      if (Date.now() > deadline) {
        throw new LockError(`lease ${this.where} stayed held for ${timeoutMs} ms (another test is running)`);
      }
      if (onWait && Date.now() - lastWaitHook > 5000) {
        lastWaitHook = Date.now();
        await onWait();
      }
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs));
    }
  }

  private async read(signal?: AbortSignal): Promise<V1Lease | undefined> {
    try {
      return await withApiRetry(
        `read lease ${this.where}`,
        () => this.api.readNamespacedLease({ name: this.options.name, namespace: this.options.namespace }),
        signal === undefined ? {} : { signal },
      );
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw new LockError(`cannot read lease ${this.where}: ${errorLine(err)}`, { cause: err });
    }
  }

  private isFree(lease: V1Lease): boolean {
    const spec = lease.spec;
    if (!spec?.holderIdentity || spec.holderIdentity === this.options.identity) return true;
    const record = JSON.stringify([
      spec.holderIdentity,
      spec.renewTime === undefined ? null : new Date(spec.renewTime).getTime(),
      lease.metadata?.resourceVersion,
    ]);
    const now = performance.now();
    if (this.observed?.record !== record) {
      // Changed since we last looked (or never seen): its holder is alive as of now.
      this.observed = { record, at: now };
      return false;
    }
    const duration = spec.leaseDurationSeconds ?? this.options.leaseDurationSeconds;
    return now - this.observed.at > duration * 1000;
  }

  private spec(now: Date, transitions: number): V1LeaseSpec {
    return forWrite({
      holderIdentity: this.options.identity,
      leaseDurationSeconds: this.options.leaseDurationSeconds,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: transitions,
    });
  }

  /**
   * One attempt: create the lease, or take it over when free; false when someone else holds it or
   * won the race. A write whose answer was lost (and so retried into a 409) is found ours next time.
   */
  private async tryTake(): Promise<boolean> {
    const current = await this.read();
    const now = new Date();
    try {
      if (current === undefined) {
        const annotations = this.options.annotations;
        await withApiRetry(`create lease ${this.where}`, () =>
          this.api.createNamespacedLease({
            namespace: this.options.namespace,
            body: {
              metadata: {
                name: this.options.name,
                ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
              },
              spec: this.spec(now, 0),
            },
          }),
        );
        return true;
      }
      if (!this.isFree(current)) return false;
      const transitions = (current.spec?.leaseTransitions ?? 0) + 1;
      await withApiRetry(`take lease ${this.where}`, () =>
        this.api.replaceNamespacedLease({
          name: this.options.name,
          namespace: this.options.namespace,
          body: { metadata: current.metadata ?? {}, spec: this.spec(now, transitions) },
        }),
      );
      this.observed = undefined;
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw new LockError(`cannot take lease ${this.where}: ${errorLine(err)}`, { cause: err });
    }
  }

  /**
   * Renews a third of the duration at a time, and watches the time since the
   * last renewal every second or so (an API call that hangs must not hide a
   * lease that others may soon take). The returned function stops renewing
   * and frees the lease. `takenAt`: when the winning write was sent.
   */
  private holdUntilReleased(takenAt: number): HeldLock {
    const durationMs = this.options.leaseDurationSeconds * 1000;
    const renewEveryMs = durationMs / 3;
    const renewDeadlineMs = (durationMs * 2) / 3;
    const lost = new AbortController();
    let renewedAt = takenAt;
    let lastAttempt = takenAt;
    let renewal: Promise<void> | undefined;
    let stopped = false;
    const lose = (why: string): void => {
      if (stopped || lost.signal.aborted) return;
      log.error({ lease: this.where, why }, 'lost the test lease while testing');
      lost.abort(new LockError(`lost the test lease ${this.where}: ${why}`));
      clearInterval(timer);
    };
    const tick = (): void => {
      const now = performance.now();
      if (now - renewedAt > renewDeadlineMs) {
        lose(`not renewed for ${Math.round((now - renewedAt) / 1000)} s (API server unreachable?)`);
        return;
      }
      if (renewal !== undefined || now - lastAttempt < renewEveryMs) return;
      lastAttempt = now;
      renewal = this.renew(lost.signal, renewDeadlineMs - (now - renewedAt))
        .then(() => {
          renewedAt = now;
        })
        .catch((err: unknown) => {
          if (err instanceof LeaseLost) {
            lose(err.message);
            return;
          }
          // Again at the next tick, until the deadline. A whole renewal period later would be the
          // deadline itself: one failed renewal (its retries spent while the API server is away for
          // 8 s from just before it) would lose the lease.
          lastAttempt = Number.NEGATIVE_INFINITY;
          log.warn({ lease: this.where, err: errorLine(err) }, 'lease not renewed; trying again');
        })
        .finally(() => {
          renewal = undefined;
        });
    };
    const timer = setInterval(tick, Math.min(1000, renewEveryMs / 2));
    return Object.assign(
      async () => {
        stopped = true;
        clearInterval(timer);
        // A renewal in flight would make our release's write a conflict: let it land first.
        await renewal;
        // Lost: no longer ours to free.
        if (lost.signal.aborted) return;
        try {
          const current = await this.read();
          if (current?.spec?.holderIdentity !== this.options.identity) return;
          await withApiRetry(`release lease ${this.where}`, () =>
            this.api.replaceNamespacedLease({
              name: this.options.name,
              namespace: this.options.namespace,
              body: { metadata: current.metadata ?? {}, spec: released(current.spec) },
            }),
          );
        } catch (err) {
          // Not fatal: the lease expires on its own.
          log.warn({ lease: this.where, err: errorLine(err) }, 'lease not released');
        }
      },
      { signal: lost.signal },
    );
  }

  /** One renewal within `budgetMs`; LeaseLost when the lease has another holder (or none). */
  private async renew(signal: AbortSignal, budgetMs: number): Promise<void> {
    // A 409 is someone's write between our read and ours: read again to see whose.
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await withApiRetry(
        `read lease ${this.where}`,
        () => this.api.readNamespacedLease({ name: this.options.name, namespace: this.options.namespace }),
        { signal, budgetMs },
      ).catch((err: unknown) => {
        if (err instanceof ApiException && err.code === 404) throw new LeaseLost('it was deleted');
        throw err;
      });
      const holder = current.spec?.holderIdentity;
      if (holder !== this.options.identity) throw new LeaseLost(`taken by ${holder || 'nobody'}`);
      try {
        await withApiRetry(
          `renew lease ${this.where}`,
          () =>
            this.api.replaceNamespacedLease({
              name: this.options.name,
              namespace: this.options.namespace,
              body: {
                metadata: current.metadata ?? {},
                spec: forWrite({ ...current.spec, renewTime: new Date() }),
              },
            }),
          { signal, budgetMs },
        );
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }
}

/**
 * The Kubernetes test locks: the Lease `netmon-test` for the cluster, one
 * Lease per node (nodeLeaseName), all in the release namespace, held under
 * the probe's pod name.
 */
export class LeaseTestLocks implements TestLocks {
  readonly cluster: TestLock;
  private readonly api: CoordinationV1Api;
  private readonly options: Omit<LeaseLockOptions, 'name' | 'annotations'>;
  private readonly nodes = new Map<string, TestLock>();

  constructor(api: CoordinationV1Api, options: Omit<LeaseLockOptions, 'name' | 'annotations'>) {
    this.api = api;
    this.options = options;
    this.cluster = new LeaseTestLock(api, { ...options, name: CLUSTER_LEASE });
  }

  node(name: string): TestLock {
    let lock = this.nodes.get(name);
    if (lock === undefined) {
      lock = new LeaseTestLock(this.api, {
        ...this.options,
        name: nodeLeaseName(name),
        annotations: { [NODE_ANNOTATION]: name },
      });
      this.nodes.set(name, lock);
    }
    return lock;
  }
}
