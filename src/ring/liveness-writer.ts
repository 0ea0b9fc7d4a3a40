/**
 * Who keeps a node's liveness record fresh: the {@link LivenessWriter} interface, and the
 * implementation on a {@link Clock} used in simulations.
 *
 * @module
 */
import { systemClock, type Clock, type Timer } from '../core/clock.js';
import { NonstopError, StorageUnavailableError } from '../core/errors.js';
import type { Incarnation, NodeId } from '../core/ids.js';
import type { CallOptions, Storage } from '../contracts/storage.js';
import { encodeLiveness, livenessKey } from './liveness-record.js';

/** What a liveness writer writes, and how often. */
export interface LivenessTarget {
  /** The node whose record is written. */
  readonly node: NodeId;
  /** Its current incarnation. */
  readonly incarnation: Incarnation;
  /** Time between writes, in ms. */
  readonly intervalMs: number;
}

/** Options of {@link LivenessWriter.start}. */
export interface LivenessWriterStartOptions extends CallOptions {
  /** Called with every failed write after the first (the writer keeps going). */
  readonly onError?: (error: NonstopError) => void;
}

/**
 * Rewrites a node's liveness record every interval, each time with a higher `beat`, with
 * unconditional puts of one small record. In a real process it must keep going while the main
 * event loop is blocked ({@link WorkerLivenessWriter}); `main` must only advance while the main
 * loop runs, so observers can tell "stalled" from "dead".
 */
export interface LivenessWriter {
  /** Writes the first record and resolves once it is durable; then keeps writing until closed. */
  start(target: LivenessTarget, options?: LivenessWriterStartOptions): Promise<void>;
  /** Stops writing. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link ClockLivenessWriter}. */
export interface ClockLivenessWriterOptions {
  /** Where the record is written. */
  readonly storage: Storage;
  /** The clock of the write timer (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * A {@link LivenessWriter} driven by a timer on a {@link Clock}, in the caller's thread — for
 * simulations and tests, where "main thread stalled" is modelled by pausing the node's transport
 * while this writer keeps going. Not for production: a blocked event loop would stop it too.
 */
export class ClockLivenessWriter implements LivenessWriter {
  readonly #storage: Storage;
  readonly #clock: Clock;
  #timer: Timer | undefined;
  #closed = false;

  constructor(options: ClockLivenessWriterOptions) {
    this.#storage = options.storage;
    this.#clock = options.clock ?? systemClock;
  }

  /** @inheritDoc */
  async start(target: LivenessTarget, options: LivenessWriterStartOptions = {}): Promise<void> {
    let beat = 0;
    let writing = false;
    const write = (): Promise<number> => {
      beat++;
      return this.#storage.put(livenessKey(target.node), encodeLiveness({ incarnation: target.incarnation, beat, main: beat }));
    };
    await write();
    const tick = (): void => {
      if (this.#closed) return;
      this.#timer = this.#clock.setTimeout(tick, target.intervalMs);
      if (writing) return;
      writing = true;
      write()
        .catch((err: unknown) => {
          if (!this.#closed) options.onError?.(err instanceof NonstopError ? err : new StorageUnavailableError('liveness write failed', { cause: err }));
        })
        .finally(() => {
          writing = false;
        });
    };
    if (!this.#closed) this.#timer = this.#clock.setTimeout(tick, target.intervalMs);
  }

  /** @inheritDoc */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
  }
}
