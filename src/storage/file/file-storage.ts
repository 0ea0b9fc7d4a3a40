/**
 * The embedded default storage adapter: a shared directory (`nonstop/storage/file`).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat, unlink, link, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { systemClock, type Clock } from '../../core/clock.js';
import { ClosedError, InvalidArgumentError, NonstopError, StorageCorruptError, StorageUnavailableError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
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
import { StorageState, type Transaction } from '../state/storage-state.js';
import { watchState } from '../state/watch-state.js';
import { CommitLock } from './commit-lock.js';
import { decodeEntry, decodeSnapshot, encodeEntry, encodeSnapshot, frame, unframe, type LogEntry } from './log-format.js';

const log = logger('storage').extend('file');
const INDEX_DIGITS = 20;
const FORMAT_MAGIC = 'NSFM';
/** A group commit stops adding transactions once it holds this much record data. */
const MAX_ENTRY_DATA_BYTES = 16 * 1024 * 1024;

/** Options of {@link FileStorage}. */
export interface FileStorageOptions {
  /** The shared directory (created if missing). Every process of the cluster opens the same one. */
  readonly directory: string;
  /** The clock that times polling and lock waits (default: the system clock). */
  readonly clock?: Clock;
  /** How often watches look for changes made by other processes, in ms (default 25). */
  readonly pollIntervalMs?: number;
  /** After how long a commit lock held by a stopped process may be taken over, in ms (default 10,000; at least 2,000). */
  readonly lockStaleMs?: number;
  /**
   * How long a committer waits for a busy commit lock before committing without it, in ms
   * (default 100). Commits stay correct without the lock (see the class documentation); the
   * bound keeps a process killed while holding the lock from stalling every writer until the
   * lock goes stale.
   */
  readonly lockWaitMs?: number;
  /**
   * Log entries between snapshots (default 1,000). Fixed when the directory is created; later
   * openers use the directory's value.
   */
  readonly snapshotEvery?: number;
  /** The largest value or stream record in bytes (default 1 MiB). */
  readonly maxValueBytes?: number;
  /** The most transactions one group commit writes (default 4,096). */
  readonly maxBatch?: number;
  /**
   * Fault injection for tests: called synchronously while this process holds the commit lock and
   * has caught up, just before it links its next log entry. Never set in production.
   */
  readonly faultInjection?: {
    /** Runs with the commit lock held, after catching up, before the link. */
    readonly beforeLink?: () => void;
  };
}

interface Pending {
  readonly tx: Transaction;
  readonly resolve: (result: TransactResult) => void;
  readonly reject: (error: Error) => void;
}

interface OwnEntry {
  readonly pending: readonly Pending[];
  /** The log index it was linked at, once linked. */
  index?: number;
  results?: (TransactResult | NonstopError)[];
  durable: boolean;
}

/**
 * Storage in a shared directory: the embedded default, on a local disk for one host or on NFS
 * for several.
 *
 * **How it works.** The directory holds a log of numbered entry files. A commit writes its
 * transactions to a temporary file, fsyncs it, and *links* it to the next free index: the link
 * fails with `EEXIST` if another process took that index first, so exactly one entry wins each
 * index and the log is one total order. Every process replays the log into the same in-memory
 * state, so reads are served from memory after checking for newer entries (linearizable), and a
 * fenced write is checked against the fence at the exact position where its entry lands (atomic).
 * Writes from concurrent callers in one process share one entry and one fsync (group commit).
 * A short proper-lockfile lock serialises committers; a committer waits for it at most
 * `lockWaitMs` and then commits without it, so a process killed or stopped while holding it
 * stalls nobody for long. A stopped process that wakes up loses the link race and sees the newer
 * state — its fenced writes fail with `FencedError` instead of overwriting anything.
 * Entries carry a length and CRC-32; a torn or corrupt file is never returned as data. Every
 * `snapshotEvery` entries a snapshot is written and older entries are deleted.
 *
 * ```ts
 * const storage = new FileStorage({ directory: '/shared/cluster' });
 * await storage.start();
 * await storage.append('tm/log', [utf8('commit tx-1')]); // durable when it resolves
 * ```
 */
export class FileStorage extends StorageBase {
  /** @inheritDoc */
  readonly capabilities: StorageCapabilities;
  /** @inheritDoc */
  protected readonly name = 'FileStorage';
  /** The shared directory (absolute). */
  readonly directory: string;
  readonly #clock: Clock;
  readonly #pollMs: number;
  readonly #maxBatch: number;
  readonly #lock: CommitLock;
  readonly #faults: FileStorageOptions['faultInjection'];
  #snapshotEvery: number;
  readonly #state = new StorageState();
  readonly #writerId = randomBytes(8).toString('hex');
  #entrySeq = 0;
  #applied = 0;
  #logDir: FileHandle | undefined;
  readonly #own = new Map<string, OwnEntry>();
  /** This process's entries linked but not yet applied, by index: applied from memory, not read back. */
  readonly #linked = new Map<number, LogEntry>();
  #queue: Pending[] = [];
  #committing: Promise<void> | undefined;
  #catchUpRunning: Promise<void> | undefined;
  #catchUpQueued: Promise<void> | undefined;
  #watchers = 0;
  #newestSnapshot = 0;
  #gcFloor = 1;
  #pollTimer: { cancel(): void } | undefined;
  #unavailable = false;

  constructor(options: FileStorageOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'must be an object');
    if (typeof options.directory !== 'string' || options.directory === '') {
      throw new InvalidArgumentError('directory', 'must be a non-empty path');
    }
    this.directory = resolve(options.directory);
    this.#clock = options.clock ?? systemClock;
    this.#pollMs = positive(options.pollIntervalMs ?? 25, 'pollIntervalMs');
    this.#maxBatch = positive(options.maxBatch ?? 4096, 'maxBatch');
    this.#snapshotEvery = positive(options.snapshotEvery ?? 1000, 'snapshotEvery');
    const staleMs = positive(options.lockStaleMs ?? 10_000, 'lockStaleMs');
    if (staleMs < 2000) throw new InvalidArgumentError('lockStaleMs', 'must be at least 2000 (proper-lockfile minimum)');
    const waitMs = positive(options.lockWaitMs ?? 100, 'lockWaitMs');
    this.#lock = new CommitLock({ path: join(this.directory, 'commit'), staleMs, waitMs, log, clock: this.#clock });
    this.#faults = options.faultInjection;
    this.capabilities = {
      durable: true,
      multiProcess: true,
      maxValueBytes: positive(options.maxValueBytes ?? 1024 * 1024, 'maxValueBytes'),
      maxTransactionOps: 10_000,
    };
  }

  /** The index of the last log entry this process has applied (for tests and status output). */
  get appliedIndex(): number {
    return this.#applied;
  }

  /** @inheritDoc */
  protected async doStart(): Promise<void> {
    await this.#io('open', async () => {
      for (const sub of ['log', 'snapshots', 'tmp']) await mkdir(join(this.directory, sub), { recursive: true });
      await this.#loadOrCreateFormat();
      this.#logDir = await open(join(this.directory, 'log'), 'r');
      await this.#removeOldTemporaries();
      this.#newestSnapshot = (await this.#snapshotIndexes())[0] ?? 0;
      const indexes = (await readdir(join(this.directory, 'log'))).filter((n) => /^\d{20}$/.test(n)).map(Number);
      this.#gcFloor = indexes.length > 0 ? Math.min(...indexes) : 1;
    });
    await this.#catchUp();
  }

  /** @inheritDoc */
  protected async doClose(): Promise<void> {
    this.#pollTimer?.cancel();
    const queued = this.#queue;
    this.#queue = [];
    for (const p of queued) p.reject(new ClosedError(this.name));
    await this.#committing?.catch(() => undefined);
    await this.#logDir?.close().catch(() => undefined);
    this.#logDir = undefined;
  }

  /** @inheritDoc */
  protected async doGet(key: string): Promise<StoredRecord | undefined> {
    await this.#catchUp();
    return this.#state.get(key);
  }

  /** @inheritDoc */
  protected async doList(prefix: string, options: ListOptions): Promise<StoredRecord[]> {
    await this.#catchUp();
    return this.#state.list(prefix, options.startAfter, options.limit);
  }

  /** @inheritDoc */
  protected async doReadStream(stream: string, from: number, options: ReadStreamOptions): Promise<StreamBatch> {
    await this.#catchUp();
    return this.#state.readStream(stream, from, options.limit);
  }

  /** @inheritDoc */
  protected async doStreamInfo(stream: string): Promise<StreamInfo> {
    await this.#catchUp();
    return this.#state.streamInfo(stream);
  }

  /** @inheritDoc */
  protected doTransact(ops: readonly TransactOp[], fence: Fence | undefined, _options: CallOptions): Promise<TransactResult> {
    return new Promise<TransactResult>((resolvePromise, reject) => {
      this.#queue.push({ tx: { ops, fence }, resolve: resolvePromise, reject });
      this.#committing ??= this.#commitLoop().finally(() => {
        this.#committing = undefined;
      });
    });
  }

  /** @inheritDoc */
  protected doWatch(prefix: string, signal: AbortSignal): AsyncIterable<WatchEvent> {
    let counted = false;
    return watchState(this.#state, prefix, {
      signal,
      prepare: async () => {
        await this.#catchUp();
        counted = true;
        if (this.#watchers++ === 0) this.#schedulePoll();
      },
      release: () => {
        if (counted && --this.#watchers === 0) this.#pollTimer?.cancel();
      },
    });
  }

  /** Group commit: one entry file (one fsync of it, one of the directory) per batch of queued transactions. */
  async #commitLoop(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#batchLength());
      const id = `${this.#writerId}-${++this.#entrySeq}`;
      const own: OwnEntry = { pending: batch, durable: false };
      try {
        own.index = await this.#writeEntry({ id, txs: batch.map((p) => p.tx) }, own);
        await this.#io('fsync log directory', () => this.#logDir!.sync());
        own.durable = true;
        await this.#catchUp(); // applies our entry (and any before it) and settles our callers
        this.#settle(id);
        if (this.#applied - this.#newestSnapshot >= this.#snapshotEvery) {
          await this.#snapshot().catch((err: unknown) => log('snapshot failed: %o', err));
        }
      } catch (err) {
        this.#own.delete(id);
        const error = err instanceof NonstopError ? err : new StorageUnavailableError('commit failed', { cause: err });
        for (const p of batch) p.reject(error);
      }
    }
  }

  /** How many queued transactions go into the next entry: at most `maxBatch`, and about 16 MiB of data. */
  #batchLength(): number {
    let bytes = 0;
    let n = 0;
    for (const p of this.#queue) {
      if (n >= this.#maxBatch || (n > 0 && bytes >= MAX_ENTRY_DATA_BYTES)) break;
      for (const op of p.tx.ops) {
        if (op.op === 'put') bytes += op.value.byteLength;
        if (op.op === 'append') for (const r of op.records) bytes += r.byteLength;
      }
      n++;
    }
    return n;
  }

  /** Writes the entry to a temporary file and links it at the next free index. Returns the index. */
  async #writeEntry(entry: LogEntry, own: OwnEntry): Promise<number> {
    const tmp = join(this.directory, 'tmp', `${entry.id}.entry`);
    await this.#io('write entry', () => writeDurably(tmp, encodeEntry(entry), 'wx'));
    this.#own.set(entry.id, own);
    const held = await this.#lock.acquire(this.closeSignal);
    try {
      for (;;) {
        await this.#catchUp();
        this.#faults?.beforeLink?.();
        const index = this.#applied + 1;
        try {
          await link(tmp, this.#entryPath(index));
          this.#linked.set(index, entry);
          return index;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
            throw new StorageUnavailableError(`cannot link log entry ${index}`, { cause: err });
          }
          log('index %d taken by another writer; catching up', index);
        }
      }
    } finally {
      await held.release();
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Settles the callers of an own entry once it is both applied and durable. */
  #settle(id: string): void {
    const own = this.#own.get(id);
    if (!own?.durable || !own.results) return;
    this.#own.delete(id);
    own.pending.forEach((p, i) => {
      const result = own.results![i]!;
      if (result instanceof Error) p.reject(result);
      else p.resolve(result);
    });
  }

  /**
   * Brings this process's state up to the newest entry in the log. Callers share a run only if it
   * started after they called, so a read never misses a write that completed before it began.
   */
  #catchUp(): Promise<void> {
    if (this.#catchUpQueued) return this.#catchUpQueued;
    const running = this.#catchUpRunning;
    if (!running) return this.#startCatchUp();
    const after = (): Promise<void> => this.#startCatchUp();
    this.#catchUpQueued = running.then(after, after);
    return this.#catchUpQueued;
  }

  #startCatchUp(): Promise<void> {
    this.#catchUpQueued = undefined;
    const run: Promise<void> = this.#runCatchUp().finally(() => {
      if (this.#catchUpRunning === run) this.#catchUpRunning = undefined;
    });
    this.#catchUpRunning = run;
    return run;
  }

  async #runCatchUp(): Promise<void> {
    for (;;) {
      const index = this.#applied + 1;
      const linked = this.#linked.get(index);
      if (linked) {
        this.#apply(linked, index);
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = await readFile(this.#entryPath(index));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw this.#unavailableError(`cannot read log entry ${index}`, err);
        }
        // Absent: either not written yet (we are caught up) or compacted into a snapshot.
        if (await this.#loadNewerSnapshot()) continue;
        this.#available();
        return;
      }
      this.#apply(decodeEntry(bytes, `log entry ${index}`), index);
    }
  }

  #apply(entry: LogEntry, index: number): void {
    this.#linked.delete(index);
    const results = entry.txs.map((tx) => this.#state.apply(tx));
    this.#applied = index;
    const own = this.#own.get(entry.id);
    if (own) {
      own.results = results;
      this.#settle(entry.id);
    }
  }

  /** Loads the newest snapshot if it is ahead of this process. Returns whether it did. */
  async #loadNewerSnapshot(): Promise<boolean> {
    const newest = (await this.#snapshotIndexes())[0];
    if (newest === undefined || newest <= this.#applied) return false;
    this.#newestSnapshot = Math.max(this.#newestSnapshot, newest);
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#snapshotPath(newest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true; // replaced meanwhile: look again
      throw this.#unavailableError(`cannot read snapshot ${newest}`, err);
    }
    const snapshot = decodeSnapshot(bytes, `snapshot ${newest}`);
    if (snapshot.index !== newest) throw new StorageCorruptError(`snapshot ${newest} says it covers ${snapshot.index}`);
    this.#state.restore(snapshot.image);
    this.#applied = snapshot.index;
    this.#newestSnapshot = Math.max(this.#newestSnapshot, newest);
    for (const index of this.#linked.keys()) if (index <= newest) this.#linked.delete(index);
    log('loaded snapshot %d', newest);
    // Our own entries that the snapshot jumped over took effect, but their per-call results are
    // lost with the compacted entries: their callers learn that the outcome is unknown.
    for (const [id, own] of this.#own) {
      if (own.index !== undefined && own.index <= newest && !own.results) {
        this.#own.delete(id);
        const error = new StorageUnavailableError('outcome unknown: the log was compacted before this process read back its own entry; read to find out');
        for (const p of own.pending) p.reject(error);
      }
    }
    return true;
  }

  /** Writes a snapshot of the current state and compacts the log. */
  async #snapshot(): Promise<void> {
    // Index and image are taken in the same synchronous step, so they match.
    const index = this.#applied;
    const bytes = encodeSnapshot({ index, image: this.#state.image() });
    this.#newestSnapshot = Math.max(this.#newestSnapshot, index);
    const tmp = join(this.directory, 'tmp', `${this.#writerId}-snapshot-${index}`);
    await this.#io('write snapshot', async () => {
      await writeDurably(tmp, bytes, 'w');
      try {
        await link(tmp, this.#snapshotPath(index));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
      await syncDirectory(join(this.directory, 'snapshots'));
    });
    // Keep the two newest snapshots (a reader listing the folder while a third is being added
    // still finds one) and the log entries of the last interval, so a process slightly behind
    // reads entries rather than a whole snapshot; delete the rest. A reader that finds its next
    // entry deleted always finds a newer snapshot (see #runCatchUp).
    const snapshots = await this.#snapshotIndexes();
    for (const old of snapshots.slice(2)) await unlink(this.#snapshotPath(old)).catch(() => undefined);
    const deleteThrough = index - this.#snapshotEvery;
    for (; this.#gcFloor <= deleteThrough; this.#gcFloor++) {
      await unlink(this.#entryPath(this.#gcFloor)).catch(() => undefined);
    }
  }

  /** Snapshot indexes present in the directory, newest first. */
  async #snapshotIndexes(): Promise<number[]> {
    let names: string[];
    try {
      names = await readdir(join(this.directory, 'snapshots'));
    } catch (err) {
      throw this.#unavailableError('cannot list snapshots', err);
    }
    return names
      .filter((n) => /^\d{20}\.snap$/.test(n))
      .map((n) => Number(n.slice(0, INDEX_DIGITS)))
      .sort((a, b) => b - a);
  }

  async #loadOrCreateFormat(): Promise<void> {
    const path = join(this.directory, 'format');
    const tmp = join(this.directory, 'tmp', `${this.#writerId}-format`);
    const mine = frame(FORMAT_MAGIC, { kind: 'nonstop-file-storage', snapshotEvery: this.#snapshotEvery });
    try {
      await writeDurably(tmp, mine, 'w');
      await link(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    const format = unframe(FORMAT_MAGIC, await readFile(path), 'format file') as { kind?: unknown; snapshotEvery?: unknown };
    if (format.kind !== 'nonstop-file-storage' || typeof format.snapshotEvery !== 'number' || !(format.snapshotEvery > 0)) {
      throw new StorageCorruptError(`${path} is not a FileStorage format file`);
    }
    this.#snapshotEvery = format.snapshotEvery;
  }

  async #removeOldTemporaries(): Promise<void> {
    const dir = join(this.directory, 'tmp');
    const cutoff = Date.now() - 3_600_000;
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && info.mtimeMs < cutoff) await rm(path, { force: true });
    }
  }

  #schedulePoll(): void {
    this.#pollTimer = this.#clock.setTimeout(() => {
      if (this.#watchers === 0 || this.closeSignal.aborted) return;
      this.#catchUp()
        .catch((err: unknown) => log('poll failed: %o', err))
        .finally(() => {
          if (this.#watchers > 0 && !this.closeSignal.aborted) this.#schedulePoll();
        });
    }, this.#pollMs);
  }

  #entryPath(index: number): string {
    return join(this.directory, 'log', String(index).padStart(INDEX_DIGITS, '0'));
  }

  #snapshotPath(index: number): string {
    return join(this.directory, 'snapshots', `${String(index).padStart(INDEX_DIGITS, '0')}.snap`);
  }

  async #io<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof NonstopError) throw err;
      throw this.#unavailableError(`${what} failed in ${this.directory}`, err);
    }
  }

  #unavailableError(message: string, cause: unknown): StorageUnavailableError {
    const error = new StorageUnavailableError(message, { cause });
    if (!this.#unavailable) {
      this.#unavailable = true;
      this.emit('unavailable', error);
    }
    return error;
  }

  #available(): void {
    if (this.#unavailable) {
      this.#unavailable = false;
      this.emit('available');
    }
  }
}

/** Writes a whole file and waits until its data is on disk. */
async function writeDurably(path: string, bytes: Uint8Array, flags: 'w' | 'wx'): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.writeFile(bytes);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** Makes the directory's entries (new names, links) durable. */
async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function positive(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(option, 'must be a positive integer');
  }
  return value;
}
