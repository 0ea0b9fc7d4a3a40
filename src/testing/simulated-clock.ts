/**
 * A simulated clock for deterministic tests (SPEC B3).
 *
 * @module
 */
import { clampDelay, sleepOn, type Clock, type Timer } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A {@link Clock} whose time moves only when the test says so.
 *
 * Timers due at the same instant run in the order they were scheduled. Between two timers
 * {@link SimulatedClock.advance} lets pending promise callbacks and I/O callbacks settle, so
 * `async` code driven by the clock runs as it would in real time, but deterministically and
 * without waiting.
 *
 * ```ts
 * const clock = new SimulatedClock();
 * const done = clock.sleep(30_000);
 * await clock.advance(30_000); // returns at once; `done` has resolved
 * ```
 */
export class SimulatedClock implements Clock {
  #now: number;
  #seq = 0;
  #queue: Scheduled[] = [];
  #advancing = false;

  /** @param start - the initial reading of {@link SimulatedClock.now}, in milliseconds (default 0) */
  constructor(start = 0) {
    if (!Number.isFinite(start)) throw new InvalidArgumentError('start', 'must be a finite number');
    this.#now = start;
  }

  /** @inheritDoc */
  now(): number {
    return this.#now;
  }

  /** @inheritDoc */
  setTimeout(callback: () => void, ms: number): Timer {
    const entry: Scheduled = { at: this.#now + clampDelay(ms), seq: this.#seq++, callback, cancelled: false };
    this.#insert(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** @inheritDoc */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }

  /** The number of timers scheduled and not yet run or cancelled. */
  get pendingTimers(): number {
    return this.#queue.reduce((n, t) => n + (t.cancelled ? 0 : 1), 0);
  }

  /**
   * Moves time forward by `ms`, running every timer that falls due on the way, in order, and
   * letting promise chains settle after each one.
   */
  async advance(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new InvalidArgumentError('ms', 'must be a finite number ≥ 0');
    await this.advanceTo(this.#now + ms);
  }

  /** Moves time forward to `time` (see {@link SimulatedClock.advance}). */
  async advanceTo(time: number): Promise<void> {
    if (this.#advancing) throw new InvalidArgumentError('advance', 'is already running (await the previous call)');
    this.#advancing = true;
    try {
      await settle();
      for (;;) {
        const next = this.#queue[0];
        if (!next || next.at > time) break;
        this.#queue.shift();
        if (next.cancelled) continue;
        this.#now = Math.max(this.#now, next.at);
        next.callback();
        await settle();
      }
      this.#now = Math.max(this.#now, time);
    } finally {
      this.#advancing = false;
    }
  }

  /**
   * Runs timers until none is left or `limitMs` of simulated time has passed, whichever comes
   * first. Returns the simulated time that passed.
   */
  async runAll(limitMs = 3_600_000): Promise<number> {
    const start = this.#now;
    for (;;) {
      while (this.#queue[0]?.cancelled) this.#queue.shift();
      const next = this.#queue[0];
      if (!next || next.at - start > limitMs) break;
      await this.advanceTo(next.at);
    }
    return this.#now - start;
  }

  #insert(entry: Scheduled): void {
    const q = this.#queue;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = q[mid]!;
      if (m.at < entry.at || (m.at === entry.at && m.seq < entry.seq)) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, entry);
  }
}

/** Lets pending microtasks and already-queued I/O callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
