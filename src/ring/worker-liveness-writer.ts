/**
 * The production {@link LivenessWriter}: a worker thread that the main event loop cannot block.
 *
 * @module
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { systemClock, type Clock, type Timer } from '../core/clock.js';
import { AbortedError, InvalidArgumentError, StorageUnavailableError } from '../core/errors.js';
import type { Incarnation, NodeId } from '../core/ids.js';
import { describe } from '../core/ids.js';
import type { JsonValue } from '../core/json.js';
import type { LivenessTarget, LivenessWriter, LivenessWriterStartOptions } from './liveness-writer.js';

// Run from TypeScript sources (development and tests, under tsx), the worker registers tsx itself:
// Node 20 does not apply the parent's `--import` loaders to a worker's entry module.
const SOURCE_BOOTSTRAP = `(async () => {
  const { workerData } = require('node:worker_threads');
  const { register } = await import(workerData.tsx);
  register();
  await import(workerData.entry);
})();`;

/** Options of {@link WorkerLivenessWriter}. */
export interface WorkerLivenessWriterOptions {
  /**
   * The module that builds the worker's own storage (an absolute path or a `file:` URL). The worker
   * opens a separate connection to the same shared storage (for `FileStorage`: the same directory).
   * The worker imports it without the loaders of the main thread (such as `tsx`), so it must be
   * JavaScript that plain Node.js can load (`storage-factory.js`, not `.ts`).
   */
  readonly storageModule: string;
  /** The name of its export: `(options) => Storage | Promise<Storage>` (default `createStorage`). */
  readonly storageExport?: string;
  /** JSON passed to that function (e.g. `{ directory }`). */
  readonly storageOptions?: JsonValue;
  /** The clock of the main-loop progress timer (default: the system clock). */
  readonly clock?: Clock;
  /** Time limit for the worker to open its storage and write the first record, in ms (default 30,000). */
  readonly startTimeoutMs?: number;
}

/** What the main thread passes to the worker. @internal */
export interface LivenessWorkerData {
  /** Module URL of the storage factory. */
  readonly storageModule: string;
  /** Its export. */
  readonly storageExport: string;
  /** Its argument. */
  readonly storageOptions: JsonValue;
  /** The node. */
  readonly node: NodeId;
  /** Its incarnation. */
  readonly incarnation: Incarnation;
  /** Time between writes. */
  readonly intervalMs: number;
  /** One Int32 that the main thread increments while its event loop runs. */
  readonly mainCounter: SharedArrayBuffer;
}

/** Messages from the worker. @internal */
export type LivenessWorkerMessage = { readonly type: 'started' } | { readonly type: 'error'; readonly message: string; readonly code: string };

/**
 * A {@link LivenessWriter} in a `worker_threads` Worker with its own storage instance, so a busy
 * or stalled main thread cannot stop the liveness record — it shows as `degraded`, not dead. The
 * record's `main` counter comes from a timer on the main thread (through shared memory): it stops
 * moving while the main event loop is blocked. A stopped or killed process stops both.
 *
 * ```ts
 * const writer = new WorkerLivenessWriter({
 *   storageModule: new URL('./storage-factory.js', import.meta.url).href,
 *   storageOptions: { directory: '/shared/cluster' },
 * });
 * ```
 */
export class WorkerLivenessWriter implements LivenessWriter {
  readonly #module: string;
  readonly #export: string;
  readonly #storageOptions: JsonValue;
  readonly #clock: Clock;
  readonly #startTimeoutMs: number;
  #worker: Worker | undefined;
  #mainTimer: Timer | undefined;
  #closed = false;

  /** @throws {@link InvalidArgumentError} naming the invalid option */
  constructor(options: WorkerLivenessWriterOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', `must be an object (got ${describe(options)})`);
    const { storageModule } = options;
    if (typeof storageModule !== 'string' || storageModule === '') throw new InvalidArgumentError('storageModule', 'must be an absolute path or a file: URL');
    if (storageModule.startsWith('file:')) this.#module = storageModule;
    else if (isAbsolute(storageModule)) this.#module = pathToFileURL(storageModule).href;
    else throw new InvalidArgumentError('storageModule', `must be an absolute path or a file: URL (got ${describe(storageModule)})`);
    this.#export = options.storageExport ?? 'createStorage';
    this.#storageOptions = options.storageOptions ?? null;
    this.#clock = options.clock ?? systemClock;
    this.#startTimeoutMs = options.startTimeoutMs ?? 30_000;
  }

  /** @inheritDoc */
  async start(target: LivenessTarget, options: LivenessWriterStartOptions = {}): Promise<void> {
    const counter = new SharedArrayBuffer(4);
    const main = new Int32Array(counter);
    const beat = (): void => {
      if (this.#closed) return;
      Atomics.add(main, 0, 1);
      this.#mainTimer = this.#clock.setTimeout(beat, target.intervalMs);
    };
    beat();
    const data: LivenessWorkerData = {
      storageModule: this.#module,
      storageExport: this.#export,
      storageOptions: this.#storageOptions,
      node: target.node,
      incarnation: target.incarnation,
      intervalMs: target.intervalMs,
      mainCounter: counter,
    };
    const worker = import.meta.url.endsWith('.ts')
      ? new Worker(SOURCE_BOOTSTRAP, {
          eval: true,
          workerData: { ...data, tsx: import.meta.resolve('tsx/esm/api'), entry: new URL('./liveness-worker.ts', import.meta.url).href },
        })
      : new Worker(new URL('./liveness-worker.js', import.meta.url), { workerData: data });
    this.#worker = worker;
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error): void => {
        cleanup();
        void worker.terminate();
        reject(error);
      };
      const onMessage = (message: LivenessWorkerMessage): void => {
        if (message.type === 'started') {
          cleanup();
          const report = (error: StorageUnavailableError): void => {
            if (!this.#closed) options.onError?.(error);
          };
          worker
            .on('message', (m: LivenessWorkerMessage) => m.type === 'error' && report(new StorageUnavailableError(`liveness write failed: ${m.message}`)))
            .on('error', (err) => report(new StorageUnavailableError('liveness worker failed', { cause: err })))
            .on('exit', (code) => report(new StorageUnavailableError(`liveness worker exited with code ${code}`)));
          resolve();
        } else fail(new StorageUnavailableError(`liveness worker could not start: ${message.message}`));
      };
      const onError = (err: Error): void => fail(new StorageUnavailableError('liveness worker failed', { cause: err }));
      const onExit = (code: number): void => fail(new StorageUnavailableError(`liveness worker exited with code ${code}`));
      const onAbort = (): void => fail(new AbortedError('liveness writer start', { cause: options.signal?.reason }));
      const timer = this.#clock.setTimeout(() => fail(new StorageUnavailableError(`liveness worker did not start within ${this.#startTimeoutMs} ms`)), this.#startTimeoutMs);
      const cleanup = (): void => {
        timer.cancel();
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        options.signal?.removeEventListener('abort', onAbort);
      };
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** @inheritDoc */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#mainTimer?.cancel();
    const worker = this.#worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'stop' });
    const timer = this.#clock.setTimeout(() => void worker.terminate(), 2000);
    await exited;
    timer.cancel();
  }
}
