/**
 * The deterministic state machine behind the memory and file adapters: records, streams and a
 * revision counter, changed only by {@link StorageState.apply}. Applying the same transactions in
 * the same order gives the same state and the same results in every process — which is what
 * lets the file adapter replay a shared log in each process.
 *
 * @module
 */
import { ConflictError, FencedError, InvalidArgumentError, type NonstopError } from '../../core/errors.js';
import type { Fence, StoredRecord, StreamBatch, StreamInfo, TransactOp, TransactOpResult, TransactResult, WatchEvent } from '../../contracts/storage.js';
import { fenceValue, parseFenceValue } from '../fence.js';

/** A validated transaction: what {@link StorageState.apply} takes and the file log stores. */
export interface Transaction {
  /** The operations, in order. */
  readonly ops: readonly TransactOp[];
  /** The authority check, if any. */
  readonly fence?: Fence | undefined;
}

interface Slot {
  readonly value: Uint8Array;
  readonly version: number;
}

interface StreamState {
  start: number;
  records: Uint8Array[];
}

/** Receives every change {@link StorageState.apply} makes. */
export type ChangeListener = (event: Exclude<WatchEvent, { type: 'synced' }>) => void;

/** A serialisable image of a {@link StorageState}. */
export interface StateImage {
  /** The revision. */
  readonly revision: number;
  /** Records as `[key, value, version]`, in key order. */
  readonly records: readonly (readonly [string, Uint8Array, number])[];
  /** Streams as `[name, start, records]`. */
  readonly streams: readonly (readonly [string, number, readonly Uint8Array[]])[];
}

/** Records, streams and a revision; see the module documentation. */
export class StorageState {
  #revision = 0;
  readonly #records = new Map<string, Slot>();
  readonly #streams = new Map<string, StreamState>();
  readonly #listeners = new Set<ChangeListener>();

  /** The number of mutating transactions applied so far (also the newest record version). */
  get revision(): number {
    return this.#revision;
  }

  /** Calls `listener` with every change from now on; returns a function that stops it. */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A copy of the record at `key`, or `undefined`. */
  get(key: string): StoredRecord | undefined {
    const slot = this.#records.get(key);
    return slot ? { key, value: slot.value.slice(), version: slot.version } : undefined;
  }

  /** Copies of the records under `prefix` in key order, after `startAfter`, at most `limit`. */
  list(prefix: string, startAfter?: string, limit: number = Number.POSITIVE_INFINITY): StoredRecord[] {
    const keys: string[] = [];
    for (const key of this.#records.keys()) {
      if (key.startsWith(prefix) && (startAfter === undefined || key > startAfter)) keys.push(key);
    }
    keys.sort();
    return keys.slice(0, limit).map((key) => this.get(key)!);
  }

  /** The bounds of a stream. */
  streamInfo(name: string): StreamInfo {
    const s = this.#streams.get(name);
    return s ? { start: s.start, end: s.start + s.records.length } : { start: 0, end: 0 };
  }

  /** Copies of stream records from `from`, at most `limit`. */
  readStream(name: string, from: number, limit: number = Number.POSITIVE_INFINITY): StreamBatch {
    const s = this.#streams.get(name);
    const start = s?.start ?? 0;
    const end = start + (s?.records.length ?? 0);
    const first = Math.max(from, start);
    const last = Math.min(end, first + limit);
    const records = [];
    for (let offset = first; offset < last; offset++) {
      records.push({ offset, data: s!.records[offset - start]!.slice() });
    }
    return { records, next: Math.max(first, last), start, end };
  }

  /**
   * Checks a transaction against the current state without applying it: `undefined` if it would
   * succeed, otherwise the error it would fail with.
   */
  check(tx: Transaction): NonstopError | undefined {
    if (tx.fence) {
      const slot = this.#records.get(tx.fence.key);
      const expected = fenceValue(tx.fence.epoch);
      if (!slot || !sameBytes(slot.value, expected)) {
        let actual: number | undefined;
        try {
          actual = slot ? parseFenceValue(slot.value, tx.fence.key) : undefined;
        } catch {
          actual = undefined;
        }
        return new FencedError(tx.fence.key, tx.fence.epoch, actual);
      }
    }
    const ends = new Map<string, number>();
    for (const op of tx.ops) {
      switch (op.op) {
        case 'put':
        case 'delete':
        case 'check': {
          if (op.expect === undefined) break;
          const actual = this.#records.get(op.key)?.version;
          if (op.expect === 'absent' ? actual !== undefined : actual !== op.expect) {
            return new ConflictError(op.key, actual);
          }
          break;
        }
        case 'append': {
          const end = ends.get(op.stream) ?? this.streamInfo(op.stream).end;
          if (op.expectEnd !== undefined && op.expectEnd !== end) {
            return new ConflictError(op.stream, undefined, `stream ${JSON.stringify(op.stream)} ends at ${end}, not ${op.expectEnd}`);
          }
          ends.set(op.stream, end + op.records.length);
          break;
        }
        case 'trim': {
          const end = ends.get(op.stream) ?? this.streamInfo(op.stream).end;
          if (op.before > end) {
            return new InvalidArgumentError('before', `cannot trim stream ${JSON.stringify(op.stream)} to ${op.before}: it ends at ${end}`);
          }
          break;
        }
      }
    }
    return undefined;
  }

  /**
   * Applies a transaction atomically: all of it, or — if {@link StorageState.check} finds a
   * problem — none of it, returning the error instead of throwing.
   */
  apply(tx: Transaction): TransactResult | NonstopError {
    const problem = this.check(tx);
    if (problem) return problem;
    const mutates = tx.ops.some((op) => op.op !== 'check');
    if (mutates) this.#revision++;
    const revision = this.#revision;
    const results: TransactOpResult[] = tx.ops.map((op) => this.#applyOp(op, revision));
    return { revision, results };
  }

  #applyOp(op: TransactOp, revision: number): TransactOpResult {
    switch (op.op) {
      case 'put': {
        const value = op.value.slice();
        this.#records.set(op.key, { value, version: revision });
        this.#emit({ type: 'put', record: { key: op.key, value, version: revision } });
        return { op: 'put', version: revision };
      }
      case 'delete': {
        const deleted = this.#records.delete(op.key);
        if (deleted) this.#emit({ type: 'delete', key: op.key, version: revision });
        return { op: 'delete', deleted };
      }
      case 'check':
        return { op: 'check' };
      case 'append': {
        let s = this.#streams.get(op.stream);
        if (!s) {
          s = { start: 0, records: [] };
          this.#streams.set(op.stream, s);
        }
        const first = s.start + s.records.length;
        for (const r of op.records) s.records.push(r.slice());
        return { op: 'append', first, next: s.start + s.records.length };
      }
      case 'trim': {
        const s = this.#streams.get(op.stream);
        if (!s || op.before <= s.start) return { op: 'trim', start: s?.start ?? 0 };
        s.records.splice(0, op.before - s.start);
        s.start = op.before;
        return { op: 'trim', start: s.start };
      }
    }
  }

  /** A complete image of the state (values are shared, not copied: treat them as read-only). */
  image(): StateImage {
    const records = [...this.#records.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, slot]) => [key, slot.value, slot.version] as const);
    const streams = [...this.#streams.entries()].map(([name, s]) => [name, s.start, s.records] as const);
    return { revision: this.#revision, records, streams };
  }

  /**
   * Replaces the whole state with `image` and reports the difference to change listeners as puts
   * and deletes (used when a process jumps forward to a snapshot).
   */
  restore(image: StateImage): void {
    const before = new Map(this.#records);
    this.#revision = image.revision;
    this.#records.clear();
    for (const [key, value, version] of image.records) this.#records.set(key, { value, version });
    this.#streams.clear();
    for (const [name, start, records] of image.streams) this.#streams.set(name, { start, records: [...records] });
    if (this.#listeners.size === 0) return;
    for (const [key, slot] of this.#records) {
      if (before.get(key)?.version !== slot.version) {
        this.#emit({ type: 'put', record: { key, value: slot.value, version: slot.version } });
      }
    }
    for (const key of before.keys()) {
      if (!this.#records.has(key)) this.#emit({ type: 'delete', key, version: this.#revision });
    }
  }

  #emit(event: Exclude<WatchEvent, { type: 'synced' }>): void {
    for (const listener of this.#listeners) listener(event);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
