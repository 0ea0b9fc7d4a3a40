/**
 * Writing your own storage adapter, and proving it with the conformance suite.
 *
 * `MapStorage` below is a complete adapter: it extends `StorageBase`, which validates every
 * argument and derives `put`, `delete`, `append` and `trim` from `transact`, so an adapter only
 * implements the protected `do…` methods. A `Map` stands in for your backend's client; the
 * interesting part is what `doTransact` guarantees: all operations or none, preconditions
 * (`expect`, `expectEnd`), fences checked atomically with the write, and a storage-wide revision
 * that becomes the version of every record written.
 *
 * The same `storageConformance` suite that nonstop's own adapters pass then runs against it under
 * Node's built-in test runner (`node:test`); a failing case makes the script exit non-zero.
 *
 * Run: npx tsx examples/custom-storage-adapter.ts   (after npm run build)
 */
import { describe, it } from 'node:test';
import {
  ConflictError,
  fenceValue,
  FencedError,
  InvalidArgumentError,
  StorageBase,
  type CallOptions,
  type Expectation,
  type Fence,
  type JsonValue,
  type ListOptions,
  type ReadStreamOptions,
  type Storage,
  type StorageCapabilities,
  type StoredRecord,
  type StreamBatch,
  type StreamInfo,
  type StreamRecord,
  type TransactOp,
  type TransactOpResult,
  type TransactResult,
  type Version,
  type WatchEvent,
} from 'nonstop';
import type { MemoryStorageOptions } from 'nonstop/storage/memory';
import {
  storageConformance,
  type ConformanceRunner,
  type StorageConformanceOptions,
  type StorageProcessFactory,
  type StorageTestHooks,
} from 'nonstop/testing';

/** Options of {@link MapStorage}: the limits of the built-in MemoryStorage, plus a test hook. */
interface MapStorageOptions extends MemoryStorageOptions {
  /** Called inside the critical section of every write (see `StorageTestHooks`). */
  readonly beforeCommit?: () => void;
}

interface Stream {
  start: number;
  records: Uint8Array[];
}

/** A storage adapter over a key/value backend (here: a `Map` in this process). */
class MapStorage extends StorageBase {
  readonly capabilities: StorageCapabilities;
  protected readonly name = 'MapStorage';
  readonly #records = new Map<string, StoredRecord>();
  readonly #streams = new Map<string, Stream>();
  readonly #watchers = new Set<(event: WatchEvent) => void>();
  readonly #beforeCommit: (() => void) | undefined;
  /** The storage-wide revision: every mutating transaction takes the next one. */
  #revision: Version = 0;

  constructor(options: MapStorageOptions = {}) {
    super();
    // Not durable and not shared between processes: the multi-process conformance cases are skipped.
    this.capabilities = { durable: false, multiProcess: false, maxValueBytes: options.maxValueBytes ?? 1024 * 1024, maxTransactionOps: 1000 };
    this.#beforeCommit = options.beforeCommit;
  }

  // Connect to / disconnect from the backend. Calls before start() and after close() are refused
  // with ClosedError by StorageBase.
  protected async doStart(_options: CallOptions): Promise<void> {}
  protected async doClose(): Promise<void> {}

  protected async doGet(key: string): Promise<StoredRecord | undefined> {
    const record = this.#records.get(key);
    return record && { ...record, value: record.value.slice() }; // never share buffers with callers
  }

  protected async doList(prefix: string, options: ListOptions): Promise<StoredRecord[]> {
    return this.#list(prefix, options);
  }

  /**
   * The heart of an adapter. Checks everything first and changes nothing unless all checks pass;
   * in a real backend this is one server-side transaction (etcd Txn, a SQL transaction …).
   */
  protected async doTransact(ops: readonly TransactOp[], fence: Fence | undefined, _options: CallOptions): Promise<TransactResult> {
    this.#beforeCommit?.();
    // 1. The fence: the fence record must hold exactly fenceValue(epoch), byte for byte.
    if (fence) {
      const held = this.#records.get(fence.key)?.value;
      if (!held || !sameBytes(held, fenceValue(fence.epoch))) {
        const actual = held === undefined ? undefined : Number(new TextDecoder().decode(held));
        throw new FencedError(fence.key, fence.epoch, Number.isSafeInteger(actual) ? actual : undefined);
      }
    }
    // 2. Preconditions, against the state just before the transaction (streams track their end as
    //    earlier operations of the same transaction append to them).
    const ends = new Map<string, number>();
    for (const op of ops) {
      if (op.op === 'append' || op.op === 'trim') {
        const end = ends.get(op.stream) ?? this.#info(op.stream).end;
        if (op.op === 'append' && op.expectEnd !== undefined && op.expectEnd !== end) {
          throw new ConflictError(op.stream, undefined, `stream ${op.stream} ends at ${end}, not ${op.expectEnd}`);
        }
        if (op.op === 'trim' && op.before > end) throw new InvalidArgumentError('before', `stream ${op.stream} ends at ${end}`);
        ends.set(op.stream, op.op === 'append' ? end + op.records.length : end);
      } else if (op.expect !== undefined) {
        this.#check(op.key, op.expect);
      }
    }
    // 3. Apply, all under one new revision.
    const mutating = ops.some((op) => op.op !== 'check');
    const revision = mutating ? ++this.#revision : this.#revision;
    const events: WatchEvent[] = [];
    const results = ops.map((op): TransactOpResult => {
      switch (op.op) {
        case 'put': {
          const record: StoredRecord = { key: op.key, value: op.value.slice(), version: revision };
          this.#records.set(op.key, record);
          events.push({ type: 'put', record });
          return { op: 'put', version: revision };
        }
        case 'delete': {
          const deleted = this.#records.delete(op.key);
          if (deleted) events.push({ type: 'delete', key: op.key, version: revision });
          return { op: 'delete', deleted };
        }
        case 'check':
          return { op: 'check' };
        case 'append': {
          const stream = this.#stream(op.stream);
          const first = stream.start + stream.records.length;
          stream.records.push(...op.records.map((r) => r.slice()));
          return { op: 'append', first, next: first + op.records.length };
        }
        case 'trim': {
          const stream = this.#stream(op.stream);
          const drop = Math.max(0, op.before - stream.start);
          stream.records.splice(0, drop);
          stream.start += drop;
          return { op: 'trim', start: stream.start };
        }
      }
    });
    for (const event of events) for (const notify of this.#watchers) notify(event);
    return { revision, results };
  }

  /** First every record under the prefix, then `synced`, then live changes until `signal` aborts. */
  protected async *doWatch(prefix: string, signal: AbortSignal): AsyncIterable<WatchEvent> {
    const queue: WatchEvent[] = [];
    let wake: (() => void) | undefined;
    const notify = (event: WatchEvent): void => {
      const key = event.type === 'put' ? event.record.key : event.type === 'delete' ? event.key : '';
      if (!key.startsWith(prefix)) return;
      queue.push(event.type === 'put' ? { type: 'put', record: { ...event.record, value: event.record.value.slice() } } : event);
      wake?.();
    };
    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      // Subscribe and take the snapshot in one synchronous step, so no change falls in between.
      this.#watchers.add(notify);
      for (const record of this.#list(prefix, {})) queue.push({ type: 'put', record });
      queue.push({ type: 'synced' });
      while (!signal.aborted) {
        const event = queue.shift();
        if (event) yield event;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      this.#watchers.delete(notify);
      signal.removeEventListener('abort', onAbort);
    }
  }

  protected async doReadStream(name: string, from: number, options: ReadStreamOptions): Promise<StreamBatch> {
    const { start, end } = this.#info(name);
    const first = Math.max(from, start);
    const last = Math.min(end, first + (options.limit ?? Number.POSITIVE_INFINITY));
    const records: StreamRecord[] = [];
    for (let offset = first; offset < last; offset++) {
      records.push({ offset, data: this.#streams.get(name)!.records[offset - start]!.slice() });
    }
    return { records, next: Math.max(first, last), start, end };
  }

  protected async doStreamInfo(name: string): Promise<StreamInfo> {
    return this.#info(name);
  }

  /** Copies of the records under `prefix`, in byte order of their keys (synchronous). */
  #list(prefix: string, options: ListOptions): StoredRecord[] {
    const keys = [...this.#records.keys()]
      .filter((key) => key.startsWith(prefix) && (options.startAfter === undefined || key > options.startAfter))
      .sort(); // keys are ASCII, so this is byte order
    return keys.slice(0, options.limit).map((key) => {
      const record = this.#records.get(key)!;
      return { ...record, value: record.value.slice() };
    });
  }

  #check(key: string, expect: Expectation): void {
    const actual = this.#records.get(key)?.version;
    if (expect === 'absent' ? actual !== undefined : actual !== expect) throw new ConflictError(key, actual);
  }

  #info(name: string): StreamInfo {
    const stream = this.#streams.get(name);
    return stream ? { start: stream.start, end: stream.start + stream.records.length } : { start: 0, end: 0 };
  }

  #stream(name: string): Stream {
    let stream = this.#streams.get(name);
    if (!stream) this.#streams.set(name, (stream = { start: 0, records: [] }));
    return stream;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * For an adapter with `capabilities.multiProcess`, the suite also runs cases with several OS
 * processes (1,000 increments each, SIGKILL during appends, a writer stopped inside its critical
 * section). Each child process imports a module that exports `createStorage` — keep it in a module
 * of its own — and the suite is given `processes: { module, location }`: `location` is whatever
 * names one shared storage (a directory, a URL and a key prefix …), and `hooks.beforeCommit` must
 * run inside the write's critical section. MapStorage keeps its data in this process, so it has no
 * location and no `processes` option (the suite reports those cases as skipped); this is how the
 * factory of a shared adapter looks.
 */
export const createStorage: StorageProcessFactory = (_location: JsonValue, hooks: StorageTestHooks): Storage =>
  new MapStorage(hooks.beforeCommit ? { beforeCommit: hooks.beforeCommit } : {});

// node:test's `it` takes (name, options, fn); the suite calls it(name, body, timeoutMs).
const runner: ConformanceRunner = {
  describe: (name, body) => void describe(name, body),
  it: (name, body, timeoutMs) => void it(name, timeoutMs === undefined ? {} : { timeout: timeoutMs }, async () => body()),
};
const options: StorageConformanceOptions = {
  name: 'MapStorage',
  // A fresh, empty, not yet started storage per test; the suite starts and closes it.
  create: () => new MapStorage({ maxValueBytes: 64 * 1024 }),
};
storageConformance(runner, options);
// node:test runs the registered tests once this module has loaded, prints a report, and sets a
// non-zero exit code if any test failed.
