/**
 * The Storage contract: the shared, durable, linearizable state every node sees — the cluster's
 * "shared disk" (SPEC T1, U8).
 *
 * Two kinds of data live in a storage:
 *
 * - **Records**: versioned key/value pairs. Every successful write gives the record a new
 *   {@link Version}; versions are positive integers that only grow for a key, also across
 *   delete and re-create, so a version is never reused. Writes can be conditional
 *   (compare-and-set on a version or on absence) and several writes can be made atomically with
 *   {@link Storage.transact}.
 * - **Streams**: durable append-only sequences of byte records, addressed by offset (0, 1, 2 …),
 *   trimmed only at the front. Used for the transaction manager's log and node queues.
 *
 * Guarantees every adapter gives (checked by `storageConformance` in `nonstop/testing`):
 *
 * - **Linearizable.** Every read sees every write that completed before the read began, from any
 *   process on any node.
 * - **Durable on resolve.** A write resolves only when it survives a crash of the writing process
 *   (for the file adapter: after `fsync`). A write that rejects had no effect — with one
 *   exception: a rejection with `TimeoutError`, `AbortedError` or `StorageUnavailableError` leaves
 *   the outcome unknown, and the caller must read to find out.
 * - **Atomic.** A {@link Storage.transact} call applies all of its operations or none.
 * - **Fenced writes** (DESIGN rule 2): a write with a {@link Fence} succeeds only if the fence
 *   record holds exactly the fence's epoch at the moment the write takes effect, checked
 *   atomically with the write; otherwise it rejects with `FencedError` and has no effect.
 * - **Typed failures.** Bad keys reject with `InvalidKeyError`, failed preconditions with
 *   `ConflictError`, unreachable backends with `StorageUnavailableError`, data that fails its
 *   checksum with `StorageCorruptError`.
 *
 * Keys and stream names: 1–512 printable ASCII characters (`!`…`~`), segments separated by `/`,
 * no empty, `.` or `..` segment, no leading or trailing `/`. Records and streams have separate
 * name spaces. Listing order is the byte order of keys.
 *
 * @module
 */
import type { EventEmitter } from '../core/events.js';
import type {
  ConflictError,
  FencedError,
  InvalidKeyError,
  StorageCorruptError,
  StorageUnavailableError,
} from '../core/errors.js';

/**
 * The version of a record: a positive safe integer, strictly increasing for a key across all of
 * its writes (including delete and re-create). Only compare versions of the same storage.
 */
export type Version = number;

/** A record as stored. The `value` is a copy: changing it does not change the storage. */
export interface StoredRecord {
  /** The record's key. */
  readonly key: string;
  /** The record's bytes. */
  readonly value: Uint8Array;
  /** The version written by the last successful write of this key. */
  readonly version: Version;
}

/**
 * A write precondition: the record must be at exactly this version, or (`'absent'`) must not
 * exist.
 */
export type Expectation = Version | 'absent';

/**
 * An authority check attached to a write (SPEC B1). The write succeeds only if the record at
 * `key` exists and its value is exactly `fenceValue(epoch)`. Authorities raise their fence with
 * `raiseFence` from `nonstop`, which makes every write fenced by an older epoch fail.
 */
export interface Fence {
  /** The key of the fence record. */
  readonly key: string;
  /** The epoch the writer holds. */
  readonly epoch: number;
}

/** Options shared by every call. */
export interface CallOptions {
  /** Abort the call. An aborted write's outcome is unknown. */
  readonly signal?: AbortSignal;
}

/** Options of single writes. */
export interface WriteOptions extends CallOptions {
  /** Compare-and-set precondition. Without it the write is unconditional. */
  readonly expect?: Expectation;
  /** Authority check (see {@link Fence}). */
  readonly fence?: Fence;
}

/** Options of a fenced write without a precondition. */
export interface FencedOptions extends CallOptions {
  /** Authority check (see {@link Fence}). */
  readonly fence?: Fence;
}

/** Options of {@link Storage.list}. */
export interface ListOptions extends CallOptions {
  /** Only keys strictly greater than this one (for paging). */
  readonly startAfter?: string;
  /** At most this many records. */
  readonly limit?: number;
}

/** Options of {@link Storage.readStream}. */
export interface ReadStreamOptions extends CallOptions {
  /** At most this many records (default: all available). */
  readonly limit?: number;
}

/** One operation of a {@link Storage.transact} call. */
export type TransactOp =
  | {
      /** Write a record. */
      readonly op: 'put';
      /** The record's key. */
      readonly key: string;
      /** The new value. */
      readonly value: Uint8Array;
      /** Precondition on the record. */
      readonly expect?: Expectation;
    }
  | {
      /** Delete a record (deleting an absent record is allowed unless `expect` says otherwise). */
      readonly op: 'delete';
      /** The record's key. */
      readonly key: string;
      /** Precondition on the record. */
      readonly expect?: Expectation;
    }
  | {
      /** Only check a precondition; writes nothing. */
      readonly op: 'check';
      /** The record's key. */
      readonly key: string;
      /** The precondition. */
      readonly expect: Expectation;
    }
  | {
      /** Append records to a stream. */
      readonly op: 'append';
      /** The stream's name. */
      readonly stream: string;
      /** The records, in order. May be empty. */
      readonly records: readonly Uint8Array[];
      /** Precondition: the stream's end offset must be exactly this. */
      readonly expectEnd?: number;
    }
  | {
      /** Drop a stream's records before an offset. */
      readonly op: 'trim';
      /** The stream's name. */
      readonly stream: string;
      /** Records with an offset lower than this are removed. Trimming past the end is an error. */
      readonly before: number;
    };

/** The outcome of one operation of a transaction, in the order the operations were given. */
export type TransactOpResult =
  | {
      /** A put. */
      readonly op: 'put';
      /** The record's new version. */
      readonly version: Version;
    }
  | {
      /** A delete. */
      readonly op: 'delete';
      /** Whether the record existed. */
      readonly deleted: boolean;
    }
  | {
      /** A check (it held, or the transaction would have failed). */
      readonly op: 'check';
    }
  | {
      /** An append. */
      readonly op: 'append';
      /** Offset of the first appended record. */
      readonly first: number;
      /** The stream's end after the append. */
      readonly next: number;
    }
  | {
      /** A trim. */
      readonly op: 'trim';
      /** The stream's first retained offset after the trim. */
      readonly start: number;
    };

/** The outcome of a {@link Storage.transact} call. */
export interface TransactResult {
  /** The storage revision at which the transaction took effect (the version of its puts). */
  readonly revision: number;
  /** One result per operation. */
  readonly results: readonly TransactOpResult[];
}

/** The offsets a successful append occupied: `first` … `next - 1`. */
export interface AppendResult {
  /** Offset of the first appended record. */
  readonly first: number;
  /** Offset the next append will get (the stream's end). */
  readonly next: number;
}

/** One stream record. */
export interface StreamRecord {
  /** Its offset in the stream. */
  readonly offset: number;
  /** Its bytes (a copy). */
  readonly data: Uint8Array;
}

/** A page of stream records. */
export interface StreamBatch {
  /** The records, in offset order, without gaps. */
  readonly records: readonly StreamRecord[];
  /** The offset to read from next. */
  readonly next: number;
  /** The stream's first retained offset (records before it were trimmed). */
  readonly start: number;
  /** The stream's end offset at the time of the read. */
  readonly end: number;
}

/** The bounds of a stream. A stream that was never written has `start = end = 0`. */
export interface StreamInfo {
  /** The first retained offset. */
  readonly start: number;
  /** The offset the next append will get. */
  readonly end: number;
}

/** One event of a {@link Storage.watch}. */
export type WatchEvent =
  | {
      /** A record was written (or existed when the watch began). */
      readonly type: 'put';
      /** The record. */
      readonly record: StoredRecord;
    }
  | {
      /** A record was deleted. */
      readonly type: 'delete';
      /** Its key. */
      readonly key: string;
      /** The revision of the deletion. */
      readonly version: Version;
    }
  | {
      /** Every record that existed when the watch began has been reported; live changes follow. */
      readonly type: 'synced';
    };

/** What an adapter offers and its limits. */
export interface StorageCapabilities {
  /** Writes survive a crash of the process (and, for real engines, of the host). */
  readonly durable: boolean;
  /** Several OS processes can open the same storage at once. */
  readonly multiProcess: boolean;
  /** The largest record value or stream record, in bytes. */
  readonly maxValueBytes: number;
  /** The most operations one {@link Storage.transact} call may hold. */
  readonly maxTransactionOps: number;
}

/** Events every storage emits. */
export interface StorageEvents {
  /** The backend could not be reached or failed; calls are being retried or rejected. */
  unavailable: [error: StorageUnavailableError];
  /** The backend answered again after being unavailable. */
  available: [];
}

/**
 * Shared, durable, linearizable state. See the module documentation for the guarantees every
 * adapter gives. All methods reject with {@link InvalidKeyError} for a bad key and with
 * `ClosedError` after {@link Storage.close}.
 */
export interface Storage extends EventEmitter<StorageEvents> {
  /** What this adapter offers. */
  readonly capabilities: StorageCapabilities;
  /** Opens the backend (creates directories, connects). Idempotent. */
  start(options?: CallOptions): Promise<void>;
  /** Releases the backend; pending calls reject with `ClosedError` or complete. Idempotent. */
  close(): Promise<void>;
  /** Same as {@link Storage.close}. */
  [Symbol.asyncDispose](): Promise<void>;

  /** Reads a record; `undefined` if absent. */
  get(key: string, options?: CallOptions): Promise<StoredRecord | undefined>;
  /** Records whose key starts with `prefix` (`''` = all), in key order. */
  list(prefix: string, options?: ListOptions): Promise<StoredRecord[]>;
  /**
   * Writes a record and resolves with its new version. Rejects with {@link ConflictError} if
   * `expect` does not hold and with {@link FencedError} if `fence` does not hold.
   */
  put(key: string, value: Uint8Array, options?: WriteOptions): Promise<Version>;
  /**
   * Deletes a record; resolves `true` if it existed. Rejects with {@link ConflictError} if
   * `expect` does not hold and with {@link FencedError} if `fence` does not hold.
   */
  delete(key: string, options?: WriteOptions): Promise<boolean>;
  /**
   * Applies several operations atomically: all or none. Rejects with {@link ConflictError} for
   * the first failed precondition, {@link FencedError} if `fence` does not hold.
   */
  transact(ops: readonly TransactOp[], options?: FencedOptions): Promise<TransactResult>;
  /**
   * Watches records under `prefix`: first every existing record as a `put`, then `synced`, then
   * every change as it happens. Consecutive changes of one key may be coalesced into the latest.
   * The iterable ends when `signal` aborts; it throws `StorageUnavailableError` if the watcher fell
   * too far behind (start a new watch: it begins with a fresh snapshot).
   */
  watch(prefix: string, options?: CallOptions): AsyncIterable<WatchEvent>;

  /** Appends records to a stream; resolves once they are durable. */
  append(stream: string, records: readonly Uint8Array[], options?: FencedOptions): Promise<AppendResult>;
  /**
   * Reads stream records from offset `from`. Reading below the stream's start begins at the
   * start; reading at or past the end returns no records.
   */
  readStream(stream: string, from: number, options?: ReadStreamOptions): Promise<StreamBatch>;
  /** The stream's bounds. */
  streamInfo(stream: string, options?: CallOptions): Promise<StreamInfo>;
  /** Removes the stream's records before offset `before`; resolves with the new start. */
  trim(stream: string, before: number, options?: FencedOptions): Promise<number>;
}
