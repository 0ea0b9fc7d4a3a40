/**
 * A bounded memory of how recently finished transactions ended, so duplicate and late calls get
 * the same answer as the first ones.
 *
 * @module
 */
import type { TxId } from './tx-id.js';

/** How a finished transaction ended: committed, rolled back by the application, or aborted by the manager. */
export type FinishedOutcome = 'committed' | 'rolledBack' | 'aborted';

/**
 * Outcomes of the most recently finished transactions (oldest forgotten first), at most `limit`.
 *
 * The manager may forget any of them: it never relies on this memory for correctness. A committed
 * transaction whose participants have not all acknowledged stays in the manager's in-doubt table
 * (backed by its commit record in the log), whatever this memory holds; after every participant
 * has acknowledged, each of them remembers the outcome durably. Aborted transactions need no
 * memory at all (presumed abort). A question about a forgotten transaction is answered by asking
 * the participants the caller names, exactly as after a failover, when this memory starts empty;
 * with no participant named it is unknown (`TxOutcomeUnknown`), never a presumed abort.
 */
export class RecentOutcomes {
  readonly #limit: number;
  readonly #map = new Map<TxId, FinishedOutcome>();

  /** @param limit - how many outcomes to keep */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The outcome of `tx`, if remembered. */
  get(tx: TxId): FinishedOutcome | undefined {
    return this.#map.get(tx);
  }

  /** Remembers the outcome of `tx`. */
  set(tx: TxId, outcome: FinishedOutcome): void {
    this.#map.delete(tx);
    this.#map.set(tx, outcome);
    if (this.#map.size > this.#limit) this.#map.delete(this.#map.keys().next().value!);
  }

  /** Forgets everything (when the epoch ends). */
  clear(): void {
    this.#map.clear();
  }
}
