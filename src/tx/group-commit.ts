/**
 * Group commit: callers that arrive while a flush is in flight share the next flush, so any
 * number of concurrent callers cost one forced write (SPEC B5).
 *
 * @module
 */

interface Waiting<T, R> {
  readonly item: T;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Queues items and flushes them in batches: one flush at a time, each taking everything queued
 * while the previous one ran. `flush` returns one result per item, in order.
 */
export class GroupCommitter<T, R> {
  readonly #flush: (items: readonly T[]) => Promise<readonly R[]>;
  #queue: Waiting<T, R>[] = [];
  #running = false;
  /** The number of flushes made so far. */
  flushes = 0;

  /** @param flush - writes a batch durably and returns one result per item */
  constructor(flush: (items: readonly T[]) => Promise<readonly R[]>) {
    this.#flush = flush;
  }

  /** Adds `item` to the next flush; resolves with its result once that flush is durable. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#running) void this.#loop();
    });
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        this.flushes++;
        try {
          const results = await this.#flush(batch.map((w) => w.item));
          batch.forEach((w, i) => w.resolve(results[i]!));
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
