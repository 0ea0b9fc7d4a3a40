/**
 * Turns the change feed of a {@link StorageState} into the `watch` async iterable of the Storage
 * contract: first a snapshot of the prefix, then `synced`, then live changes.
 *
 * @module
 */
import { StorageUnavailableError } from '../../core/errors.js';
import type { WatchEvent } from '../../contracts/storage.js';
import type { StorageState } from './storage-state.js';

/** Options of {@link watchState}. */
export interface WatchStateOptions {
  /** Ends the iteration when aborted. */
  readonly signal: AbortSignal;
  /** Runs before the snapshot is taken (e.g. to catch up with a shared log). */
  readonly prepare?: () => Promise<void>;
  /** Runs once when the iteration ends, however it ends. */
  readonly release?: () => void;
  /** Buffered live events before the watch fails with `StorageUnavailableError` (default 100,000). */
  readonly maxBuffered?: number;
}

/** See the module documentation. */
export async function* watchState(state: StorageState, prefix: string, options: WatchStateOptions): AsyncGenerator<WatchEvent> {
  const { signal, maxBuffered = 100_000 } = options;
  let wake: (() => void) | undefined;
  const onAbort = (): void => wake?.();
  signal.addEventListener('abort', onAbort);
  let stop: (() => void) | undefined;
  try {
    if (options.prepare) await options.prepare();
    if (signal.aborted) return;
    const queue: WatchEvent[] = [];
    let overflow = false;
    stop = state.onChange((event) => {
      const key = event.type === 'put' ? event.record.key : event.key;
      if (!key.startsWith(prefix) || overflow) return;
      if (queue.length >= maxBuffered) {
        overflow = true;
        queue.length = 0;
      } else {
        queue.push(event.type === 'put' ? { type: 'put', record: { ...event.record, value: event.record.value.slice() } } : event);
      }
      wake?.();
    });
    // Subscribing and listing happen in the same synchronous step, so no change falls between them.
    for (const record of state.list(prefix)) queue.push({ type: 'put', record });
    queue.push({ type: 'synced' });
    for (;;) {
      if (signal.aborted) return;
      if (overflow) throw new StorageUnavailableError(`watch of ${JSON.stringify(prefix)} fell behind by more than ${maxBuffered} events; start a new watch`);
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    stop?.();
    signal.removeEventListener('abort', onAbort);
    options.release?.();
  }
}
