/**
 * The in-process storage adapter (`nonstop/storage/memory`).
 *
 * @module
 */
import { ClosedError } from '../../core/errors.js';
import type {
  CallOptions,
  Fence,
  ListOptions,
  ReadStreamOptions,
  StorageCapabilities,
  StoredRecord,
  StreamBatch,
  StreamInfo,
  TransactOp,
  TransactResult,
  WatchEvent,
} from '../../contracts/storage.js';
import { StorageBase } from '../storage-base.js';
import { StorageState } from '../state/storage-state.js';
import { watchState } from '../state/watch-state.js';

/** Options of {@link MemoryStorage}. */
export interface MemoryStorageOptions {
  /** The largest value or stream record in bytes (default 1 MiB). */
  readonly maxValueBytes?: number;
}

/**
 * Storage held in this process's memory: linearizable and atomic, but neither durable nor shared
 * between processes. For tests and simulations — several simulated nodes in one process share
 * one `MemoryStorage` as their "shared disk". Every call completes without real I/O, so runs on a
 * simulated clock stay deterministic.
 *
 * ```ts
 * const storage = new MemoryStorage();
 * await storage.start();
 * const v1 = await storage.put('config', utf8('{}'), { expect: 'absent' });
 * ```
 */
export class MemoryStorage extends StorageBase {
  /** @inheritDoc */
  readonly capabilities: StorageCapabilities;
  /** @inheritDoc */
  protected readonly name = 'MemoryStorage';
  readonly #state = new StorageState();

  constructor(options: MemoryStorageOptions = {}) {
    super();
    this.capabilities = {
      durable: false,
      multiProcess: false,
      maxValueBytes: options.maxValueBytes ?? 1024 * 1024,
      maxTransactionOps: 10_000,
    };
  }

  /** @inheritDoc */
  protected async doStart(): Promise<void> {}

  /** @inheritDoc */
  protected async doClose(): Promise<void> {}

  /** @inheritDoc */
  protected async doGet(key: string): Promise<StoredRecord | undefined> {
    return this.#state.get(key);
  }

  /** @inheritDoc */
  protected async doList(prefix: string, options: ListOptions): Promise<StoredRecord[]> {
    return this.#state.list(prefix, options.startAfter, options.limit);
  }

  /** @inheritDoc */
  protected async doTransact(ops: readonly TransactOp[], fence: Fence | undefined, _options: CallOptions): Promise<TransactResult> {
    if (this.closeSignal.aborted) throw new ClosedError(this.name);
    const outcome = this.#state.apply({ ops, fence });
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }

  /** @inheritDoc */
  protected doWatch(prefix: string, signal: AbortSignal): AsyncIterable<WatchEvent> {
    return watchState(this.#state, prefix, { signal });
  }

  /** @inheritDoc */
  protected async doReadStream(stream: string, from: number, options: ReadStreamOptions): Promise<StreamBatch> {
    return this.#state.readStream(stream, from, options.limit);
  }

  /** @inheritDoc */
  protected async doStreamInfo(stream: string): Promise<StreamInfo> {
    return this.#state.streamInfo(stream);
  }
}
