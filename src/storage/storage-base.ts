/**
 * The part every adapter shares: argument validation at the boundary (DESIGN rule 4) and the
 * single-operation calls expressed as transactions. An adapter implements the protected `do…`
 * methods and gets a complete, validated {@link Storage}.
 *
 * @module
 */
import { throwIfAborted } from '../core/abort.js';
import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import { EventEmitter } from '../core/events.js';
import { epoch } from '../core/ids.js';
import type {
  AppendResult,
  CallOptions,
  Fence,
  FencedOptions,
  ListOptions,
  ReadStreamOptions,
  Storage,
  StorageCapabilities,
  StorageEvents,
  StoredRecord,
  StreamBatch,
  StreamInfo,
  TransactOp,
  TransactResult,
  Version,
  WatchEvent,
  WriteOptions,
} from '../contracts/storage.js';
import { validateKey, validatePrefix } from './keys.js';

/** Base class of storage adapters; see the module documentation. */
export abstract class StorageBase extends EventEmitter<StorageEvents> implements Storage {
  /** @inheritDoc */
  abstract readonly capabilities: StorageCapabilities;
  #state: 'new' | 'started' | 'closed' = 'new';
  #starting: Promise<void> | undefined;
  readonly #closing = new AbortController();

  /** A name for error messages, e.g. `FileStorage`. */
  protected abstract readonly name: string;

  /** Aborts when {@link StorageBase.close} is called; long-running work (watches, pollers) listens to it. */
  protected get closeSignal(): AbortSignal {
    return this.#closing.signal;
  }

  /** @inheritDoc */
  start(options?: CallOptions): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new ClosedError(this.name));
    this.#starting ??= this.doStart(options ?? {}).then(
      () => {
        if (this.#state === 'new') this.#state = 'started';
      },
      (err: unknown) => {
        this.#starting = undefined;
        throw err;
      },
    );
    return this.#starting;
  }

  /** @inheritDoc */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closing.abort(new ClosedError(this.name));
    await this.#starting?.catch(() => undefined);
    await this.doClose();
  }

  /** @inheritDoc */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @inheritDoc */
  async get(key: string, options: CallOptions = {}): Promise<StoredRecord | undefined> {
    this.#ready(options, 'get');
    return this.doGet(validateKey(key), options);
  }

  /** @inheritDoc */
  async list(prefix: string, options: ListOptions = {}): Promise<StoredRecord[]> {
    this.#ready(options, 'list');
    validatePrefix(prefix);
    if (options.startAfter !== undefined) validateKey(options.startAfter);
    if (options.limit !== undefined) nonNegativeInteger(options.limit, 'limit');
    return this.doList(prefix, options);
  }

  /** @inheritDoc */
  async put(key: string, value: Uint8Array, options: WriteOptions = {}): Promise<Version> {
    const op: TransactOp = options.expect === undefined ? { op: 'put', key, value } : { op: 'put', key, value, expect: options.expect };
    const result = await this.transact([op], options);
    const first = result.results[0];
    return first?.op === 'put' ? first.version : result.revision;
  }

  /** @inheritDoc */
  async delete(key: string, options: WriteOptions = {}): Promise<boolean> {
    const op: TransactOp = options.expect === undefined ? { op: 'delete', key } : { op: 'delete', key, expect: options.expect };
    const result = await this.transact([op], options);
    const first = result.results[0];
    return first?.op === 'delete' ? first.deleted : false;
  }

  /** @inheritDoc */
  async append(stream: string, records: readonly Uint8Array[], options: FencedOptions = {}): Promise<AppendResult> {
    const result = await this.transact([{ op: 'append', stream, records }], options);
    const first = result.results[0];
    if (first?.op !== 'append') throw new InvalidArgumentError('append', 'adapter returned no append result');
    return { first: first.first, next: first.next };
  }

  /** @inheritDoc */
  async trim(stream: string, before: number, options: FencedOptions = {}): Promise<number> {
    const result = await this.transact([{ op: 'trim', stream, before }], options);
    const first = result.results[0];
    return first?.op === 'trim' ? first.start : 0;
  }

  /** @inheritDoc */
  async transact(ops: readonly TransactOp[], options: FencedOptions = {}): Promise<TransactResult> {
    this.#ready(options, 'transact');
    const validated = this.#validateOps(ops);
    const fence = options.fence === undefined ? undefined : validateFence(options.fence);
    return this.doTransact(validated, fence, options);
  }

  /** @inheritDoc */
  watch(prefix: string, options: CallOptions = {}): AsyncIterable<WatchEvent> {
    this.#ready(options, 'watch');
    validatePrefix(prefix);
    const signal = options.signal ? AbortSignal.any([options.signal, this.closeSignal]) : this.closeSignal;
    return this.doWatch(prefix, signal);
  }

  /** @inheritDoc */
  async readStream(stream: string, from: number, options: ReadStreamOptions = {}): Promise<StreamBatch> {
    this.#ready(options, 'readStream');
    validateKey(stream);
    nonNegativeInteger(from, 'from');
    if (options.limit !== undefined) nonNegativeInteger(options.limit, 'limit');
    return this.doReadStream(stream, from, options);
  }

  /** @inheritDoc */
  async streamInfo(stream: string, options: CallOptions = {}): Promise<StreamInfo> {
    this.#ready(options, 'streamInfo');
    return this.doStreamInfo(validateKey(stream), options);
  }

  /** Opens the backend. */
  protected abstract doStart(options: CallOptions): Promise<void>;
  /** Releases the backend. */
  protected abstract doClose(): Promise<void>;
  /** Reads one validated key. */
  protected abstract doGet(key: string, options: CallOptions): Promise<StoredRecord | undefined>;
  /** Lists a validated prefix. */
  protected abstract doList(prefix: string, options: ListOptions): Promise<StoredRecord[]>;
  /** Applies validated operations atomically. */
  protected abstract doTransact(ops: readonly TransactOp[], fence: Fence | undefined, options: CallOptions): Promise<TransactResult>;
  /** Watches a validated prefix until `signal` aborts. */
  protected abstract doWatch(prefix: string, signal: AbortSignal): AsyncIterable<WatchEvent>;
  /** Reads a validated stream. */
  protected abstract doReadStream(stream: string, from: number, options: ReadStreamOptions): Promise<StreamBatch>;
  /** Bounds of a validated stream. */
  protected abstract doStreamInfo(stream: string, options: CallOptions): Promise<StreamInfo>;

  #ready(options: CallOptions, what: string): void {
    if (this.#state === 'closed') throw new ClosedError(this.name);
    if (this.#state === 'new') throw new ClosedError(`${this.name} (not started: call start() first)`);
    throwIfAborted(options.signal, `${this.name}.${what}`);
  }

  #validateOps(ops: readonly TransactOp[]): TransactOp[] {
    if (!Array.isArray(ops)) throw new InvalidArgumentError('ops', 'must be an array');
    if (ops.length > this.capabilities.maxTransactionOps) {
      throw new InvalidArgumentError('ops', `at most ${this.capabilities.maxTransactionOps} operations per transaction (got ${ops.length})`);
    }
    const max = this.capabilities.maxValueBytes;
    return ops.map((op: TransactOp, i): TransactOp => {
      const where = `ops[${i}]`;
      if (typeof op !== 'object' || op === null) throw new InvalidArgumentError(where, 'must be an object');
      switch (op.op) {
        case 'put':
          validateKey(op.key);
          validateExpect(op.expect, `${where}.expect`);
          validateBytes(op.value, `${where}.value`, max);
          return op.expect === undefined ? { op: 'put', key: op.key, value: op.value } : { op: 'put', key: op.key, value: op.value, expect: op.expect };
        case 'delete':
          validateKey(op.key);
          validateExpect(op.expect, `${where}.expect`);
          return op.expect === undefined ? { op: 'delete', key: op.key } : { op: 'delete', key: op.key, expect: op.expect };
        case 'check':
          validateKey(op.key);
          if (op.expect === undefined) throw new InvalidArgumentError(`${where}.expect`, 'is required for a check');
          validateExpect(op.expect, `${where}.expect`);
          return { op: 'check', key: op.key, expect: op.expect };
        case 'append': {
          validateKey(op.stream);
          if (!Array.isArray(op.records)) throw new InvalidArgumentError(`${where}.records`, 'must be an array');
          op.records.forEach((r, j) => validateBytes(r, `${where}.records[${j}]`, max));
          if (op.expectEnd !== undefined) nonNegativeInteger(op.expectEnd, `${where}.expectEnd`);
          const records = [...op.records];
          return op.expectEnd === undefined ? { op: 'append', stream: op.stream, records } : { op: 'append', stream: op.stream, records, expectEnd: op.expectEnd };
        }
        case 'trim':
          validateKey(op.stream);
          nonNegativeInteger(op.before, `${where}.before`);
          return { op: 'trim', stream: op.stream, before: op.before };
        default:
          throw new InvalidArgumentError(`${where}.op`, `must be put, delete, check, append or trim (got ${JSON.stringify((op as { op?: unknown }).op)})`);
      }
    });
  }
}

function validateExpect(expect: unknown, option: string): void {
  if (expect === undefined || expect === 'absent') return;
  if (typeof expect !== 'number' || !Number.isSafeInteger(expect) || expect < 1) {
    throw new InvalidArgumentError(option, `must be a version (positive integer) or 'absent'`);
  }
}

function validateBytes(value: unknown, option: string, max: number): void {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError(option, 'must be a Uint8Array');
  if (value.byteLength > max) throw new InvalidArgumentError(option, `is ${value.byteLength} bytes; the limit is ${max}`);
}

function validateFence(fence: Fence): Fence {
  if (typeof fence !== 'object' || fence === null) throw new InvalidArgumentError('fence', 'must be { key, epoch }');
  return { key: validateKey(fence.key), epoch: epoch(fence.epoch, 'fence.epoch') };
}

function nonNegativeInteger(value: unknown, option: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(option, 'must be a non-negative integer');
  }
}
