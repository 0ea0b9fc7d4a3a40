/**
 * The receiving side of request/reply, shared by the transport adapters: the table of message
 * handlers and the dispatch that turns whatever a handler does into a {@link HandlerOutcome}.
 *
 * @module
 */
import type { Clock, Timer } from '../../core/clock.js';
import { InvalidArgumentError, NoHandlerError, TimeoutError } from '../../core/errors.js';
import type { JsonValue } from '../../core/json.js';
import type { HandlerContext, IncomingMessage, MessageHandler } from '../../contracts/transport.js';
import { checkMessageType } from './arguments.js';
import { failureOf, type HandlerOutcome } from './wire-message.js';

/** Options of {@link HandlerRegistry.dispatch}. */
export interface DispatchOptions {
  /** Aborts when the transport closes; passed on to the handler. */
  readonly signal: AbortSignal;
  /** For a request: the handler's signal also aborts (with `TimeoutError`) this long after dispatch. */
  readonly timeoutMs?: number | undefined;
  /**
   * When the request arrived, on the clock, if the caller has just read it (saves reading the
   * clock again); the deadline runs from then. Default: the clock's time at dispatch.
   */
  readonly receivedAt?: number | undefined;
}

/**
 * One handler per message type, as `Transport.handle` promises, and their invocation.
 *
 * ```ts
 * // in Transport.handle:
 * return registry.handle(type, handler);
 * // when a request arrives:
 * const outcome = await registry.dispatch(incoming, { signal: closing.signal, timeoutMs: request.timeoutMs });
 * write(encodeReply(request, outcome, maxBytes));
 * ```
 */
export class HandlerRegistry {
  readonly #clock: Clock;
  readonly #handlers = new Map<string, MessageHandler>();

  /** @param clock - the clock that measures request deadlines */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Registers the handler of `type`, replacing any previous one. The returned function removes
   * it, and does nothing once the handler has been replaced.
   *
   * @throws An {@link InvalidArgumentError} naming `type` or `handler`
   */
  handle(type: string, handler: MessageHandler): () => void {
    checkMessageType(type);
    if (typeof handler !== 'function') throw new InvalidArgumentError('handler', 'must be a function');
    this.#handlers.set(type, handler);
    return () => {
      if (this.#handlers.get(type) === handler) this.#handlers.delete(type);
    };
  }

  /**
   * Runs the handler of `message.type` and reports what happened. Never throws and never
   * rejects: a missing handler gives `ERR_NO_HANDLER`, a thrown error its failure (see
   * `failureOf`), and a result of `undefined` the payload `null`. The result is not validated
   * here; `encodeReply` does that.
   *
   * The outcome is returned directly when there is no handler or the handler returns (or throws)
   * without a promise, so that the reply to a synchronous handler goes out without a detour
   * through the microtask queue; otherwise it is a promise of the outcome.
   *
   * The handler's `context.signal` is made only if the handler reads it (most do not): it follows
   * `options.signal` and, for a request, aborts with a `TimeoutError` at the deadline
   * `options.timeoutMs` after this call, measured on the clock.
   */
  dispatch(message: IncomingMessage, options: DispatchOptions): HandlerOutcome | Promise<HandlerOutcome> {
    const handler = this.#handlers.get(message.type);
    if (!handler) return { ok: false, failure: failureOf(new NoHandlerError(message.type)) };
    const context = new DispatchContext(this.#clock, message, options);
    let result: unknown;
    try {
      result = handler(message, context);
      if (isThenable(result)) {
        return Promise.resolve(result).then(
          (payload) => context.settledLater({ ok: true, payload: (payload ?? null) as JsonValue }),
          (err: unknown) => context.settledLater({ ok: false, failure: failureOf(err) }),
        );
      }
    } catch (err) {
      return context.settledAtOnce({ ok: false, failure: failureOf(err) });
    }
    return context.settledAtOnce({ ok: true, payload: (result ?? null) as JsonValue });
  }
}

/** `true` if `value` is a promise or another thenable, which `await` would wait for. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * The {@link HandlerContext} of one dispatch. Its signal costs an `AbortController`,
 * `AbortSignal.any` (weak references, GC work) and a timer, so it is made on first read only:
 * a handler that never looks at it costs none of that.
 */
class DispatchContext implements HandlerContext {
  readonly #clock: Clock;
  readonly #message: IncomingMessage;
  readonly #closing: AbortSignal;
  readonly #timeoutMs: number | undefined;
  /** When the dispatch started (on the clock), if there is a deadline. */
  readonly #start: number;
  #signal: AbortSignal | undefined;
  #timer: Timer | undefined;
  /** When the handler finished (on the clock), once it has. */
  #finishedAt: number | undefined;

  constructor(clock: Clock, message: IncomingMessage, options: DispatchOptions) {
    this.#clock = clock;
    this.#message = message;
    this.#closing = options.signal;
    this.#timeoutMs = options.timeoutMs;
    this.#start = options.timeoutMs === undefined ? 0 : (options.receivedAt ?? clock.now());
  }

  /** Aborts when the transport closes, or when the request's deadline has passed. */
  get signal(): AbortSignal {
    this.#signal ??= this.#makeSignal();
    return this.#signal;
  }

  /**
   * Records that the handler returned without a promise and passes `outcome` on. No time passed
   * on the clock meanwhile (timers cannot run during synchronous code), so the deadline had not
   * come and the signal no longer needs one.
   */
  settledAtOnce(outcome: HandlerOutcome): HandlerOutcome {
    this.#finishedAt = this.#start;
    this.#timer?.cancel();
    this.#timer = undefined;
    return outcome;
  }

  /** Records that the handler's promise settled (its deadline no longer runs) and passes `outcome` on. */
  settledLater(outcome: HandlerOutcome): HandlerOutcome {
    this.#finishedAt = this.#timeoutMs === undefined ? 0 : this.#clock.now();
    this.#timer?.cancel();
    this.#timer = undefined;
    return outcome;
  }

  /**
   * The signal the handler would have had if it had been made at dispatch: the transport's
   * signal combined with one that aborts at the deadline (already aborted if the deadline has
   * passed; never, if the handler finished before its deadline).
   */
  #makeSignal(): AbortSignal {
    const timeoutMs = this.#timeoutMs;
    if (timeoutMs === undefined) return this.#closing;
    const finishedAt = this.#finishedAt;
    const elapsed = (finishedAt ?? this.#clock.now()) - this.#start;
    if (finishedAt !== undefined && elapsed < timeoutMs) return this.#closing;
    const expiry = new AbortController();
    if (elapsed >= timeoutMs) expiry.abort(this.#timeoutError(timeoutMs));
    else {
      // Read during the dispatch itself (the usual case): exactly `timeoutMs`, as a timer set at dispatch.
      const delay = elapsed === 0 ? timeoutMs : timeoutMs - elapsed;
      this.#timer = this.#clock.setTimeout(() => expiry.abort(this.#timeoutError(timeoutMs)), delay);
    }
    // AbortSignal.any adds no listener to the transport's signal, however many handlers run.
    return AbortSignal.any([this.#closing, expiry.signal]);
  }

  #timeoutError(timeoutMs: number): TimeoutError {
    return new TimeoutError(`request ${this.#message.type} from ${this.#message.from}`, timeoutMs);
  }
}
