/**
 * The journal of a {@link KvResourceManager}: the records from which it rebuilds its state after
 * a restart, and the in-memory journal used in tests and simulations.
 *
 * @module
 */
import type { JsonValue } from '../core/json.js';

/** One change a key/value resource manager makes to its durable state. */
export type RmJournalRecord =
  | {
      /** A higher transaction-manager epoch was seen. */
      readonly t: 'epoch';
      /** The epoch. */
      readonly e: number;
    }
  | {
      /** The branch was prepared with these writes. */
      readonly t: 'prepare';
      /** The transaction. */
      readonly tx: string;
      /** The writes, as `[key, value]`. */
      readonly w: readonly (readonly [string, JsonValue])[];
    }
  | {
      /** The branch committed (`w` holds the writes of a one-phase commit). */
      readonly t: 'commit';
      /** The transaction. */
      readonly tx: string;
      /** The writes of a one-phase commit. */
      readonly w?: readonly (readonly [string, JsonValue])[];
      /** Decided alone (heuristic). */
      readonly h?: boolean;
    }
  | {
      /** The branch rolled back. */
      readonly t: 'rollback';
      /** The transaction. */
      readonly tx: string;
      /** Decided alone (heuristic). */
      readonly h?: boolean;
    }
  | {
      /** A heuristic outcome was reported and forgotten. */
      readonly t: 'forget';
      /** The transaction. */
      readonly tx: string;
    }
  | {
      /** Committed data, written by compaction: these keys hold these values. */
      readonly t: 'data';
      /** The committed values, as `[key, value]`. */
      readonly w: readonly (readonly [string, JsonValue])[];
    }
  | {
      /**
       * Outcomes of finished branches, oldest first, written by compaction: `c` committed, `r`
       * rolled back, `hc` / `hr` the same decided alone (heuristic) and not yet forgotten.
       */
      readonly t: 'outcomes';
      /** The outcomes, as `[transaction, code]`. */
      readonly o: readonly (readonly [string, 'c' | 'r' | 'hc' | 'hr'])[];
    }
  | {
      /**
       * The forgotten horizon, written by compaction: the greatest transaction id (by epoch, then
       * sequence number) whose outcome the resource manager has forgotten. A branch it does not
       * know at or below this id may have committed, so it claims no outcome for it. A journal
       * without this record has forgotten nothing; several of them mean the greatest.
       */
      readonly t: 'horizon';
      /** The transaction. */
      readonly tx: string;
    };

/** Durable storage of a resource manager's journal. */
export interface RmJournal {
  /** Every record written so far, in order. */
  load(): Promise<RmJournalRecord[]>;
  /** Appends records; resolves once they are durable. */
  append(records: readonly RmJournalRecord[]): Promise<void>;
  /**
   * Optional: replaces every record written so far with `records` (a smaller equivalent written
   * by `KvResourceManager.compact`), **atomically**: after a crash at any moment, `load` returns
   * either all the old records or exactly `records`, never neither or a mix. Records appended
   * after this call go after `records`. A journal without this method is never compacted.
   */
  compact?(records: readonly RmJournalRecord[]): Promise<void>;
  /** Releases files. */
  close(): Promise<void>;
}

/**
 * A journal in memory. It survives as long as the object does, which in a simulation plays the
 * part of a disk: a "killed" node's new resource manager reopens the same journal.
 */
export class MemoryRmJournal implements RmJournal {
  readonly #records: RmJournalRecord[] = [];

  /** @inheritDoc */
  async load(): Promise<RmJournalRecord[]> {
    return [...this.#records];
  }

  /** @inheritDoc */
  async append(records: readonly RmJournalRecord[]): Promise<void> {
    this.#records.push(...records);
  }

  /** @inheritDoc */
  async compact(records: readonly RmJournalRecord[]): Promise<void> {
    this.#records.length = 0;
    for (const r of records) this.#records.push(r);
  }

  /** @inheritDoc */
  async close(): Promise<void> {}
}
