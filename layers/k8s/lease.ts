import {
  ApiException,
  type CoordinationV1Api,
  type V1Lease,
  type V1LeaseSpec,
} from '@kubernetes/client-node';
import { errorLine, LockError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { TestLock } from '../domain/lock.ts';

export interface LeaseLockOptions {
  namespace: string;
  name?: string;
  /** Who we are (pod name); shown in the Lease. */
  identity: string;
  /** A holder that stops renewing for this long loses the lease. */
  leaseDurationSeconds?: number;
  pollMs?: number;
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

/**
 * The cluster-wide test lock: a coordination.k8s.io Lease held for a whole
 * test and renewed while it runs. Updates carry the resourceVersion they
 * read, so two probes racing for a free lease cannot both win (409).
 */
export class LeaseTestLock implements TestLock {
  private readonly api: CoordinationV1Api;
  private readonly options: Required<LeaseLockOptions>;

  constructor(api: CoordinationV1Api, options: LeaseLockOptions) {
    this.api = api;
    this.options = { name: 'netmon-test', leaseDurationSeconds: 30, pollMs: 500, ...options };
  }

  async acquire(timeoutMs: number, onWait?: () => Promise<void>): Promise<() => Promise<void>> {
    const deadline = Date.now() + timeoutMs;
    let lastWaitHook = Date.now();
    for (;;) {
      if (await this.tryTake()) return this.holdUntilReleased();
      if (Date.now() > deadline) {
        throw new LockError(
          `lease ${this.options.namespace}/${this.options.name} stayed held for ${timeoutMs} ms (another test is running)`,
        );
      }
      if (onWait && Date.now() - lastWaitHook > 5000) {
        lastWaitHook = Date.now();
        await onWait();
      }
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs));
    }
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({
        name: this.options.name,
        namespace: this.options.namespace,
      });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw new LockError(
        `cannot read lease ${this.options.namespace}/${this.options.name}: ${errorLine(err)}`,
        { cause: err },
      );
    }
  }

  private isFree(lease: V1Lease, now: Date): boolean {
    const spec = lease.spec;
    if (!spec?.holderIdentity) return true;
    if (spec.holderIdentity === this.options.identity) return true;
    const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    return now.getTime() - renewed > (spec.leaseDurationSeconds ?? this.options.leaseDurationSeconds) * 1000;
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

  /** One attempt: create the lease, or take it over when free; false when someone else holds it or won the race. */
  private async tryTake(): Promise<boolean> {
    const now = new Date();
    const current = await this.read();
    try {
      if (current === undefined) {
        await this.api.createNamespacedLease({
          namespace: this.options.namespace,
          body: { metadata: { name: this.options.name }, spec: this.spec(now, 0) },
        });
        return true;
      }
      if (!this.isFree(current, now)) return false;
      await this.api.replaceNamespacedLease({
        name: this.options.name,
        namespace: this.options.namespace,
        body: {
          metadata: current.metadata ?? {},
          spec: this.spec(now, (current.spec?.leaseTransitions ?? 0) + 1),
        },
      });
      return true;
    } catch (err) {
      if (err instanceof ApiException && (err.code === 409 || err.code === 422)) return false;
      throw new LockError(
        `cannot take lease ${this.options.namespace}/${this.options.name}: ${errorLine(err)}`,
        { cause: err },
      );
    }
  }

  /** Renews a third of the duration at a time; the returned function stops renewing and frees the lease. */
  private holdUntilReleased(): () => Promise<void> {
    const every = (this.options.leaseDurationSeconds * 1000) / 3;
    const timer = setInterval(() => {
      void this.renew().catch((err) => log.error({ err: errorLine(err) }, 'lease not renewed'));
    }, every);
    return async () => {
      clearInterval(timer);
      const current = await this.read();
      if (current?.spec?.holderIdentity !== this.options.identity) return;
      try {
        await this.api.replaceNamespacedLease({
          name: this.options.name,
          namespace: this.options.namespace,
          body: { metadata: current.metadata ?? {}, spec: released(current.spec) },
        });
      } catch (err) {
        // Not fatal: the lease expires on its own.
        log.warn({ err: errorLine(err) }, 'lease not released');
      }
    };
  }

  private async renew(): Promise<void> {
    const current = await this.read();
    if (current?.spec?.holderIdentity !== this.options.identity) {
      log.error({ holder: current?.spec?.holderIdentity }, 'lost the test lease while testing');
      return;
    }
    await this.api.replaceNamespacedLease({
      name: this.options.name,
      namespace: this.options.namespace,
      body: { metadata: current.metadata ?? {}, spec: forWrite({ ...current.spec, renewTime: new Date() }) },
    });
  }
}
