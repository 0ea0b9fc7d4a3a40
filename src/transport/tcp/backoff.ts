/**
 * Exponential reconnect backoff with jitter.
 *
 * @module
 */
import type { Random } from '../../core/random.js';

/** Reconnect backoff settings of the TCP transport. */
export interface BackoffOptions {
  /** Wait after the first failed connection attempt, in milliseconds (default 100). */
  readonly initialDelayMs?: number;
  /** Upper bound of the wait, in milliseconds (default 10 000). */
  readonly maxDelayMs?: number;
  /** Growth factor per consecutive failure (default 2). */
  readonly multiplier?: number;
  /** Random spread as a fraction of the delay, in [0, 1] (default 0.2: ±20 %). */
  readonly jitter?: number;
}

/** {@link BackoffOptions} with every default filled in. */
export type ResolvedBackoff = Required<BackoffOptions>;

/** The defaults of {@link BackoffOptions}. */
export const DEFAULT_BACKOFF: ResolvedBackoff = {
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  multiplier: 2,
  jitter: 0.2,
};

/**
 * The wait before the next attempt after `failures` consecutive failed attempts (≥ 1):
 * `min(max, initial × multiplier^(failures−1))`, spread by ± `jitter` and capped at `maxDelayMs`.
 */
export function backoffDelay(backoff: ResolvedBackoff, failures: number, random: Random): number {
  const base = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * backoff.multiplier ** Math.max(0, failures - 1));
  const spread = 1 + backoff.jitter * (2 * random.next() - 1);
  return Math.min(backoff.maxDelayMs, Math.max(0, base * spread));
}
