import { HttpError } from './http.ts';

/**
 * What keeps the graph API's memory and CPU bounded when requests ask for
 * many different views (every `?maxAge=` value is a view of its own): the
 * cache of drawn views is bounded by bytes as well as entries, and at most
 * `maxRenders` views are drawn at once with `queue` more waiting. Beyond
 * that a request is answered 503 with Retry-After at once, so a storm costs
 * a short JSON reply per request instead of a layout and a copy in memory.
 */

export interface RenderLimits {
  /** Most bytes of drawn views kept for reuse. */
  cacheBytes: number;
  /** Most drawn views kept, whatever their size. */
  cacheEntries: number;
  /** Views drawn at once. */
  maxRenders: number;
  /** Views waiting for a turn; one more is refused with 503. */
  queue: number;
}

export const DEFAULT_RENDER_LIMITS: RenderLimits = {
  cacheBytes: 32 * 1024 * 1024,
  cacheEntries: 64,
  // A layout holds the one JavaScript thread: two at once are no faster, and hold two models.
  maxRenders: 1,
  queue: 8,
};

export interface RenderStats {
  cacheBytes: number;
  cacheEntries: number;
  cacheLimitBytes: number;
  rendering: number;
  waiting: number;
  /** Requests refused because every slot and the queue were taken. */
  refused: number;
}

/** Admits at most `maxRenders` at once and `queue` waiting; refuses the rest with 503 and Retry-After. */
export class RenderGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private refusedCount = 0;
  /** Recent render times (ms), for an honest Retry-After. */
  private recentMs = 1000;
  private readonly limits: Pick<RenderLimits, 'maxRenders' | 'queue'>;

  constructor(limits: Pick<RenderLimits, 'maxRenders' | 'queue'>) {
    this.limits = limits;
  }

  get rendering(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  get refused(): number {
    return this.refusedCount;
  }

  /** Seconds until a slot is likely free: the work ahead spread over the slots, at least 1. */
  retryAfterSeconds(): number {
    const ahead = this.active + this.waiting.length;
    return Math.max(1, Math.ceil((ahead * this.recentMs) / this.limits.maxRenders / 1000));
  }

  /** Throws HttpError 503 at once when every slot and the queue are taken; otherwise runs `work` in its turn. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limits.maxRenders) {
      if (this.waiting.length >= this.limits.queue) {
        this.refusedCount += 1;
        const seconds = this.retryAfterSeconds();
        throw new HttpError(
          503,
          `the graph API is busy drawing other views (${this.active} drawing, ${this.waiting.length} waiting): try again in ${seconds} s, or ask for a view already drawn (fewer distinct maxAge values)`,
          { retryAfterSeconds: seconds },
          { 'Retry-After': String(seconds) },
        );
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active += 1;
    }
    // The slot is ours (taken here or handed over by release). A layout blocks the event loop:
    // let requests already queued (/healthz among them) be answered before it starts.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const started = performance.now();
    try {
      return await work();
    } finally {
      // A moving average: one slow view does not set Retry-After alone.
      this.recentMs = 0.7 * this.recentMs + 0.3 * (performance.now() - started);
      this.release();
    }
  }

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes to the next waiter as is: active stays the same.
    if (next !== undefined) next();
    else this.active -= 1;
  }
}

interface Entry {
  value: Promise<string>;
  /** 0 until drawn. */
  bytes: number;
}

/**
 * Drawn views by model fingerprint and view, least recently used first out:
 * a poll with unchanged figures costs no layout. Bounded by entries and by
 * the bytes of the drawn views; a view bigger than the whole budget is
 * served but not kept. A view being drawn is shared by its concurrent
 * requests and counts its bytes once drawn.
 */
export class RenderCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly limits: Pick<RenderLimits, 'cacheBytes' | 'cacheEntries'>;
  private readonly gate: RenderGate;

  constructor(limits: RenderLimits) {
    this.limits = limits;
    this.gate = new RenderGate(limits);
  }

  stats(): RenderStats {
    return {
      cacheBytes: this.bytes,
      cacheEntries: this.entries.size,
      cacheLimitBytes: this.limits.cacheBytes,
      rendering: this.gate.rendering,
      waiting: this.gate.queued,
      refused: this.gate.refused,
    };
  }

  /**
   * Runs `work` (derive the model, look the view up, draw it) in its turn;
   * HttpError 503 when every slot and the queue are taken. The model a view
   * is drawn from is itself a copy of the graph (a new staleness threshold):
   * at 100 nodes, megabytes per request, so it is made in the turn too.
   */
  run<T>(work: () => Promise<T>): Promise<T> {
    return this.gate.run(work);
  }

  /** The view under `key`, drawn by `render` when not kept (call it inside run()). */
  get(key: string, render: () => Promise<string>): Promise<string> {
    const found = this.entries.get(key);
    if (found !== undefined) {
      this.entries.delete(key); // most recently used goes last
      this.entries.set(key, found);
      return found.value;
    }
    const entry: Entry = { value: render(), bytes: 0 };
    this.entries.set(key, entry);
    entry.value.then(
      (body) => {
        if (this.entries.get(key) !== entry) return; // evicted while drawn
        const bytes = Buffer.byteLength(body);
        // Too big to keep: served, but it does not push every other view out.
        if (bytes > this.limits.cacheBytes) return this.remove(key, entry);
        entry.bytes = bytes;
        this.bytes += bytes;
        this.evict();
      },
      () => this.remove(key, entry),
    );
    this.evict();
    return entry.value;
  }

  private remove(key: string, entry: Entry): void {
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.limits.cacheEntries && this.bytes <= this.limits.cacheBytes) return;
      this.remove(key, entry);
    }
  }
}
