/**
 * The receiving side of request/reply, shared by the transport adapters: the table of message
 * handlers and the dispatch that turns whatever a handler does into a {@link HandlerOutcome}.
 *
 * @module
 */
import type { Clock, Timer } from '../../core/clock.js';
import { InvalidArgumentError, NoHandlerError, TimeoutError } from '../../core/errors.js';
import type { IncomingMessage, MessageHandler } from '../../contracts/transport.js';
import { checkMessageType } from './arguments.js';
import { failureOf, type HandlerOutcome } from './wire-message.js';

/** Options of {@link HandlerRegistry.dispatch}. */
export interface DispatchOptions {
  /** Aborts when the transport closes; passed on to the handler. */
  readonly signal: AbortSignal;
  /** For a request: the handler's signal also aborts (with `TimeoutError`) this long after dispatch. */
  readonly timeoutMs?: number | undefined;
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
   * Runs the handler of `message.type` and reports what happened. Never rejects: a missing
   * handler gives `ERR_NO_HANDLER`, a thrown error its failure (see `failureOf`), and a result of
   * `undefined` the payload `null`. The result is not validated here; `encodeReply` does that.
   */
  async dispatch(message: IncomingMessage, options: DispatchOptions): Promise<HandlerOutcome> {
    const handler = this.#handlers.get(message.type);
    if (!handler) return { ok: false, failure: failureOf(new NoHandlerError(message.type)) };
    const { timeoutMs } = options;
    let signal = options.signal;
    let deadline: Timer | undefined;
    if (timeoutMs !== undefined) {
      const expiry = new AbortController();
      const what = `request ${message.type} from ${message.from}`;
      deadline = this.#clock.setTimeout(() => expiry.abort(new TimeoutError(what, timeoutMs)), timeoutMs);
      // AbortSignal.any adds no listener to the transport's signal, however many handlers run.
      signal = AbortSignal.any([options.signal, expiry.signal]);
    }
    try {
      const result = await handler(message, { signal });
      return { ok: true, payload: result ?? null };
    } catch (err) {
      return { ok: false, failure: failureOf(err) };
    } finally {
      deadline?.cancel();
    }
  }
}
