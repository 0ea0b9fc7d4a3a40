/**
 * The calling side of request/reply, shared by the transport adapters: the table of requests
 * awaiting a reply, with their time limits on the injected clock.
 *
 * @module
 */
import type { Clock, Timer } from '../../core/clock.js';
import { AbortedError, NoHandlerError, RemoteError, TimeoutError, type NonstopError } from '../../core/errors.js';
import type { NodeId } from '../../core/ids.js';
import type { JsonValue } from '../../core/json.js';
import type { WireErrorReply, WireReply } from './wire-message.js';

/** Options of {@link PendingRequests.open}. */
export interface OpenRequestOptions {
  /** The destination; only a reply from this node settles the request. */
  readonly to: NodeId;
  /** The message type (used in error messages and for {@link NoHandlerError}). */
  readonly type: string;
  /** Time limit on the clock; the reply promise rejects with {@link TimeoutError} after it. */
  readonly timeoutMs: number;
  /** Rejects the reply promise with {@link AbortedError} when it aborts. */
  readonly signal?: AbortSignal | undefined;
}

/** A request opened by {@link PendingRequests.open}. */
export interface OpenedRequest {
  /** The id to put in the request envelope. */
  readonly id: number;
  /** Settles with the reply, or rejects with a typed error. */
  readonly reply: Promise<JsonValue>;
}

/** A pending request. */
class Entry {
  readonly id: number;
  readonly to: NodeId;
  readonly type: string;
  readonly timeoutMs: number;
  /** When the time limit expires, on the clock. */
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
  /** `true` once settled (the entry may still sit in its {@link DeadlineQueue} for a while). */
  done = false;
  resolve: (payload: JsonValue) => void = ignore;
  reject: (error: unknown) => void = ignore;
  /** The abort listener on `signal`, when there is one. */
  onAbort: (() => void) | undefined;

  constructor(id: number, to: NodeId, type: string, timeoutMs: number, deadline: number, signal: AbortSignal | undefined) {
    this.id = id;
    this.to = to;
    this.type = type;
    this.timeoutMs = timeoutMs;
    this.deadline = deadline;
    this.signal = signal;
  }

  /** `request <type> to <node>`, for error messages. */
  get what(): string {
    return `request ${this.type} to ${this.to}`;
  }
}

function ignore(): void {}

/**
 * The entries of one time limit, in the order they were opened, which is also the order of
 * their deadlines (the clock is monotonic). Settled entries are dropped from the front at once
 * and from elsewhere lazily, so the queue stays proportional to the pending entries.
 */
class DeadlineQueue {
  #items: (Entry | undefined)[] = [];
  #head = 0;
  /** Entries in the queue that are not settled. */
  live = 0;

  push(entry: Entry): void {
    this.#items.push(entry);
    this.live++;
  }

  /** The first entry not yet settled, dropping settled ones before it. */
  first(): Entry | undefined {
    const items = this.#items;
    while (this.#head < items.length) {
      const entry = items[this.#head]!;
      if (!entry.done) return entry;
      items[this.#head++] = undefined;
    }
    this.#items = [];
    this.#head = 0;
    return undefined;
  }

  /** Notes that `entry`, which is in this queue, was settled. */
  settled(entry: Entry): void {
    this.live--;
    const items = this.#items;
    if (items[this.#head] === entry) this.first();
    else if (items.length - this.#head > 2 * this.live + 64) {
      // Settled entries pile up behind a long-pending one: compact.
      this.#items = items.filter((item, i) => i >= this.#head && item !== undefined && !item.done);
      this.#head = 0;
    }
  }
}

/**
 * Requests awaiting a reply, by id. Every request settles exactly once: with the first matching
 * reply, or with the first of time-out, abort or {@link PendingRequests.fail}. Later replies
 * (duplicates, or replies that arrive after the time limit) are ignored.
 *
 * Time limits cost no timer per request: requests are queued by time limit (in each queue the
 * deadlines come in opening order, as the clock is monotonic), and a single timer on the clock
 * is armed for the earliest deadline. When it fires it rejects every request whose deadline has
 * come, with {@link TimeoutError}, in deadline order, and re-arms for the earliest remaining
 * one. A request therefore times out when a timer set at `open` for its `timeoutMs` would have
 * fired; a reply only leaves the timer armed (a spare firing re-arms it). Once no request is
 * pending, the timer is cancelled at the end of the current turn of the event loop (at once by
 * {@link PendingRequests.failAll}), so a caller with one request in flight does not set and
 * cancel a timer per request, and an idle table leaves no timer on the clock (a
 * `SimulatedClock` lets such turns pass before it runs any timer). Given the same calls, all of
 * this is deterministic with a simulated clock.
 *
 * ```ts
 * // in Transport.request:
 * const { id, reply } = pending.open({ to, type, timeoutMs, signal });
 * try { write({ kind: 'request', id, from: self, to, type, payload, timeoutMs }); }
 * catch (err) { pending.fail(id, err); }
 * return reply;
 * // when a reply or error reply arrives:
 * pending.settle(message);
 * // on close:
 * pending.failAll(() => new ClosedError('transport'));
 * ```
 */
export class PendingRequests {
  readonly #clock: Clock;
  readonly #entries = new Map<number, Entry>();
  /** Pending entries by time limit. */
  readonly #queues = new Map<number, DeadlineQueue>();
  #lastId = 0;
  /** The one timer of all time limits, armed for {@link PendingRequests.#timerAt}. */
  #timer: Timer | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #idleCheckQueued = false;

  /** @param clock - the clock that measures time limits */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The number of requests awaiting a reply. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Registers a request and starts its time limit. If `signal` has already aborted, the reply
   * promise is already rejected (the caller should not send the request then).
   */
  open(options: OpenRequestOptions): OpenedRequest {
    const id = ++this.#lastId;
    const { to, type, timeoutMs, signal } = options;
    const deadline = this.#clock.now() + timeoutMs;
    const entry = new Entry(id, to, type, timeoutMs, deadline, signal);
    const reply = new Promise<JsonValue>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    this.#entries.set(id, entry);
    let queue = this.#queues.get(timeoutMs);
    if (queue === undefined) {
      queue = new DeadlineQueue();
      this.#queues.set(timeoutMs, queue);
    }
    queue.push(entry);
    if (deadline < this.#timerAt) this.#arm(deadline, timeoutMs);
    if (signal !== undefined) {
      if (signal.aborted) this.#aborted(entry);
      else {
        const onAbort = (): void => this.#aborted(entry);
        entry.onAbort = onAbort;
        signal.addEventListener('abort', onAbort, { once: true });
      }
    }
    return { id, reply };
  }

  /**
   * Settles the request `message` answers: resolves with a reply's payload, rejects with
   * {@link NoHandlerError} for `ERR_NO_HANDLER` and with {@link RemoteError} for any other error
   * reply. Returns `false`, doing nothing, if no pending request has that id or the request was
   * not sent to `message.from`.
   */
  settle(message: WireReply | WireErrorReply): boolean {
    const entry = this.#entries.get(message.id);
    if (!entry || entry.to !== message.from) return false;
    this.#remove(entry);
    if (message.kind === 'reply') entry.resolve(message.payload);
    else if (message.code === 'ERR_NO_HANDLER') entry.reject(new NoHandlerError(entry.type));
    else {
      entry.reject(
        new RemoteError(message.code, `${entry.type} on ${entry.to} failed: ${message.message}`, message.retryable),
      );
    }
    return true;
  }

  /** Rejects the request `id` with `error`, if it is still pending. */
  fail(id: number, error: unknown): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    this.#remove(entry);
    entry.reject(error);
  }

  /**
   * Rejects every pending request, or only those sent to `to`, with a fresh error from
   * `makeError` (e.g. `ClosedError` on close, `UnreachableError` when a peer is lost).
   */
  failAll(makeError: (to: NodeId) => NonstopError, to?: NodeId): void {
    for (const [id, entry] of [...this.#entries]) {
      if (to === undefined || entry.to === to) this.fail(id, makeError(entry.to));
    }
    if (this.#entries.size === 0) this.#disarm();
  }

  #aborted(entry: Entry): void {
    this.fail(entry.id, new AbortedError(entry.what, { cause: entry.signal?.reason }));
  }

  #remove(entry: Entry): void {
    this.#entries.delete(entry.id);
    entry.done = true;
    const queue = this.#queues.get(entry.timeoutMs)!;
    queue.settled(entry);
    if (queue.live === 0) this.#queues.delete(entry.timeoutMs);
    if (this.#entries.size === 0 && !this.#idleCheckQueued) {
      // Not at once: a caller that waits for each reply before the next request (one in flight)
      // would otherwise cancel and set a timer per request.
      this.#idleCheckQueued = true;
      setImmediate(this.#disarmIfIdle);
    }
    if (entry.onAbort !== undefined) entry.signal!.removeEventListener('abort', entry.onAbort);
  }

  /** Cancels the timer if no request is pending any more (queued once the last one settled). */
  readonly #disarmIfIdle = (): void => {
    this.#idleCheckQueued = false;
    if (this.#entries.size === 0) this.#disarm();
  };

  /** Arms the timer for `at`, `delay` from now (replacing a later one). */
  #arm(at: number, delay: number): void {
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => this.#expire(), delay);
  }

  #disarm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  /** The timer fired: rejects every request whose deadline has come, re-arms for the next one. */
  #expire(): void {
    // The timer was set for `#timerAt`: requests due then are due now, whatever rounding did.
    const now = Math.max(this.#clock.now(), this.#timerAt);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const due: Entry[] = [];
    for (const queue of this.#queues.values()) {
      for (let entry = queue.first(); entry !== undefined && entry.deadline <= now; entry = queue.first()) {
        due.push(entry);
        entry.done = true; // taken out of the queue; `fail` below completes the removal
      }
    }
    // In deadline order, as separate timers would have fired (ids break ties: opening order).
    due.sort((a, b) => a.deadline - b.deadline || a.id - b.id);
    for (const entry of due) {
      entry.done = false;
      this.fail(entry.id, new TimeoutError(entry.what, entry.timeoutMs));
    }
    this.#rearm();
  }

  /** Arms the timer for the earliest deadline of the pending requests, if any. */
  #rearm(): void {
    if (this.#timer !== undefined) return;
    let next: Entry | undefined;
    for (const queue of this.#queues.values()) {
      const first = queue.first();
      if (first !== undefined && (next === undefined || first.deadline < next.deadline)) next = first;
    }
    if (next !== undefined) this.#arm(next.deadline, next.deadline - this.#clock.now());
  }
}
