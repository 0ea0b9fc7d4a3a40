/**
 * The in-memory resource manager for tests and simulations.
 *
 * @module
 */
import { KvResourceManager, type RmCall } from './kv-resource-manager.js';
import type { Vote } from './resource-manager.js';
import { MemoryRmJournal, type RmJournal } from './rm-journal.js';
import type { TxId } from './tx-id.js';

/** Options of {@link MemoryResourceManager}. */
export interface MemoryResourceManagerOptions {
  /**
   * The journal to use (default: a new one). Pass the journal of a "killed" RM to simulate a
   * restart that keeps what was durable and loses what was not.
   */
  readonly journal?: RmJournal;
  /** Test-only fault injection (see `KvResourceManagerOptions.faultInjection`). */
  readonly faultInjection?: (call: RmCall, tx: TxId | undefined) => void | Vote | Promise<void | Vote>;
}

/**
 * A {@link KvResourceManager} journaled in memory: all the behaviour of a durable RM, with the
 * journal object playing the disk.
 *
 * ```ts
 * const bank = new MemoryResourceManager('bank');
 * await bank.write(tx, 'alice', 90);
 * ```
 */
export class MemoryResourceManager extends KvResourceManager {
  /** The journal (keep it to "restart" the RM with it). */
  readonly journal: RmJournal;

  /** @param name - the RM's name on its node */
  constructor(name: string, options: MemoryResourceManagerOptions = {}) {
    const journal = options.journal ?? new MemoryRmJournal();
    super({ name, journal, ...(options.faultInjection ? { faultInjection: options.faultInjection } : {}) });
    this.journal = journal;
  }
}
