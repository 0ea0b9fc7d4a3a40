/**
 * Injected time. Every timer in nonstop goes through a {@link Clock}, so tests can replace real
 * time with a simulated clock (`SimulatedClock` from `nonstop/testing`) and run minutes of cluster
 * time in milliseconds, deterministically.
 *
 * @module
 */
import { AbortedError } from './errors.js';

/** A scheduled callback that can be cancelled. Cancelling twice, or after it ran, does nothing. */
export interface Timer {
  /** Prevents the callback from running if it has not run yet. */
  cancel(): void;
}

/**
 * A source of monotonic time and timers.
 *
 * `now()` is monotonic and local to one process: liveness is judged by an observer's own clock
 * seeing something not change for long enough, never by comparing timestamps of two machines
 * (DESIGN rule 1).
 */
export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin (fractional). */
  now(): number;
  /** Runs `callback` once, `ms` milliseconds from now (a negative or NaN delay counts as 0). */
  setTimeout(callback: () => void, ms: number): Timer;
  /**
   * Resolves after `ms` milliseconds; rejects with {@link AbortedError} as soon as `signal`
   * aborts.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `performance.now()` and Node's timers. */
export class SystemClock implements Clock {
  /** @inheritDoc */
  now(): number {
    return performance.now();
  }

  /** @inheritDoc */
  setTimeout(callback: () => void, ms: number): Timer {
    const handle = setTimeout(callback, clampDelay(ms));
    return { cancel: () => clearTimeout(handle) };
  }

  /** @inheritDoc */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }
}

/** The real clock (`performance.now()` and Node's timers), used wherever no clock is injected. */
export const systemClock: Clock = new SystemClock();

/** Clamps a requested delay to a non-negative finite number of milliseconds. */
export function clampDelay(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 2_147_483_647) : 0;
}

/**
 * Implements {@link Clock.sleep} on top of any clock's `setTimeout`; clock implementations share
 * it so abort handling is identical everywhere.
 */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError('sleep', { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      reject(new AbortedError('sleep', { cause: signal?.reason }));
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
