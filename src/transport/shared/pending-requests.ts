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

interface Entry {
  readonly to: NodeId;
  readonly type: string;
  readonly resolve: (payload: JsonValue) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: Timer;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * Requests awaiting a reply, by id. Every request settles exactly once: with the first matching
 * reply, or with the first of time-out, abort or {@link PendingRequests.fail}. Later replies
 * (duplicates, or replies that arrive after the time limit) are ignored.
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
  #lastId = 0;

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
    const what = `request ${type} to ${to}`;
    const reply = new Promise<JsonValue>((resolve, reject) => {
      const onAbort = (): void => this.fail(id, new AbortedError(what, { cause: signal?.reason }));
      const timer = this.#clock.setTimeout(() => this.fail(id, new TimeoutError(what, timeoutMs)), timeoutMs);
      this.#entries.set(id, { to, type, resolve, reject, timer, signal, onAbort });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
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
    this.#remove(message.id, entry);
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
    this.#remove(id, entry);
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
  }

  #remove(id: number, entry: Entry): void {
    this.#entries.delete(id);
    entry.timer.cancel();
    entry.signal?.removeEventListener('abort', entry.onAbort);
  }
}
