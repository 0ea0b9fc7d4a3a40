/**
 * The transaction manager's log: a Storage stream on shared storage (SPEC T1) whose every write
 * is fenced by the manager's epoch, so a deposed manager can never force a decision its
 * successor does not see (SPEC T4, B1). Concurrent appends share one storage write (group
 * commit, SPEC B5).
 *
 * @module
 */
import type { Fence, Storage } from '../contracts/storage.js';
import { GroupCommitter } from './group-commit.js';
import { decodeTxLogRecord, encodeTxLogRecord, type TxLogRecord } from './log-record.js';

/** A record read back from the log with its offset. */
export interface LoggedRecord {
  /** The record's offset in the stream. */
  readonly offset: number;
  /** The record. */
  readonly record: TxLogRecord;
}

/** The log of one epoch of the transaction manager. */
export class TxLog {
  readonly #storage: Storage;
  readonly #stream: string;
  readonly #fence: Fence;
  readonly #committer: GroupCommitter<TxLogRecord, number>;

  /**
   * @param storage - the shared storage
   * @param stream - the stream's name
   * @param fence - the fence every write carries (the manager's epoch)
   */
  constructor(storage: Storage, stream: string, fence: Fence) {
    this.#storage = storage;
    this.#stream = stream;
    this.#fence = fence;
    this.#committer = new GroupCommitter(async (records) => {
      const { first } = await this.#storage.append(this.#stream, records.map(encodeTxLogRecord), { fence: this.#fence });
      return records.map((_, i) => first + i);
    });
  }

  /** The number of storage writes (forced writes) made so far. */
  get forcedWrites(): number {
    return this.#committer.flushes;
  }

  /**
   * Appends a record durably, sharing the storage write with concurrent appends. Resolves with
   * its offset; rejects with `FencedError` (and writes nothing) once a newer epoch took over.
   */
  append(record: TxLogRecord): Promise<number> {
    return this.#committer.add(record);
  }

  /** Reads every retained record, in order. Damaged records reject with `StorageCorruptError`. */
  async readAll(): Promise<LoggedRecord[]> {
    const out: LoggedRecord[] = [];
    for (let from = 0; ; ) {
      const batch = await this.#storage.readStream(this.#stream, from, { limit: 1000 });
      for (const r of batch.records) out.push({ offset: r.offset, record: decodeTxLogRecord(r.data, `${this.#stream}@${r.offset}`) });
      if (batch.records.length === 0 || batch.next >= batch.end) return out;
      from = batch.next;
    }
  }

  /** Removes the records before `before` (fenced). */
  async trim(before: number): Promise<void> {
    await this.#storage.trim(this.#stream, before, { fence: this.#fence });
  }
}
