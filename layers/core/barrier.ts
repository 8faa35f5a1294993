/**
 * A one-shot barrier for a known number of parties: arrive() resolves when
 * every party has arrived or left. A party that will never arrive (its test
 * failed before the point everyone waits for) leaves, so the others are not
 * held forever.
 */
export class Barrier {
  private waiting: number;
  private readonly open: Promise<void>;
  private release: () => void = () => undefined;
  private readonly done = new Set<symbol>();

  constructor(parties: number) {
    this.waiting = parties;
    this.open = new Promise((resolve) => {
      this.release = resolve;
    });
    if (parties <= 0) this.release();
  }

  /** A party's handle: arrive at most once, then leaving is a no-op. */
  party(): { arrive: () => Promise<void>; leave: () => void } {
    const id = Symbol('party');
    const count = (): void => {
      if (this.done.has(id)) return;
      this.done.add(id);
      this.waiting -= 1;
      if (this.waiting <= 0) this.release();
    };
    return {
      arrive: () => {
        count();
        return this.open;
      },
      leave: count,
    };
  }
}
