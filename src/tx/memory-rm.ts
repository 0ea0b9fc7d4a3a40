/**
 * The in-memory resource manager for tests and simulations.
 *
 * @module
 */
import type { InvalidArgumentError } from '../core/errors.js';
import { KvResourceManager, type KvResourceManagerOptions } from './kv-resource-manager.js';
import { MemoryRmJournal, type RmJournal } from './rm-journal.js';

/**
 * Options of {@link MemoryResourceManager}: those of {@link KvResourceManagerOptions} (clock,
 * branch time-out, outcome retention, compaction, fault injection) but the name, and an optional
 * journal.
 */
export interface MemoryResourceManagerOptions extends Omit<KvResourceManagerOptions, 'name' | 'journal'> {
  /**
   * The journal to use (default: a new one). Pass the journal of a "killed" RM to simulate a
   * restart that keeps what was durable and loses what was not.
   */
  readonly journal?: RmJournal;
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

  /**
   * @param name - the RM's name on its node
   * @throws {@link InvalidArgumentError} naming the invalid option
   */
  constructor(name: string, options: MemoryResourceManagerOptions = {}) {
    const journal = options.journal ?? new MemoryRmJournal();
    super({ ...options, name, journal });
    this.journal = journal;
  }
}
