/**
 * Helpers for `AbortSignal` handling and time limits, shared by every component and adapter.
 *
 * @module
 */
import type { Clock } from './clock.js';
import { AbortedError, TimeoutError } from './errors.js';

/** Throws {@link AbortedError} if `signal` has already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortedError(what, { cause: signal.reason });
}

/**
 * Settles like `promise`, but rejects with {@link AbortedError} as soon as `signal` aborts and
 * with {@link TimeoutError} after `timeoutMs` on `clock` (when given). The underlying work is not
 * cancelled: the caller must treat its effect as unknown.
 */
export function race<T>(
  promise: Promise<T>,
  what: string,
  options: { readonly signal?: AbortSignal | undefined; readonly timeoutMs?: number | undefined; readonly clock?: Clock | undefined },
): Promise<T> {
  const { signal, timeoutMs, clock } = options;
  if (!signal && (timeoutMs === undefined || !clock)) return promise;
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError(what, { cause: signal.reason }));
      return;
    }
    const cleanup = (): void => {
      timer?.cancel();
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      cleanup();
      reject(new AbortedError(what, { cause: signal?.reason }));
    };
    const timer =
      timeoutMs !== undefined && clock
        ? clock.setTimeout(() => {
            cleanup();
            reject(new TimeoutError(what, timeoutMs));
          }, timeoutMs)
        : undefined;
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (err: unknown) => {
        cleanup();
        reject(err);
      },
    );
  });
}
