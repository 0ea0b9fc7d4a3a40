/**
 * Fault settings of one directed link of a {@link MemoryNetwork}.
 *
 * @module
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { describe } from '../../core/ids.js';
import type { MemoryNetwork } from './memory-network.js';

/**
 * How a directed link (from → to) of a {@link MemoryNetwork} treats each message. Every random
 * choice is drawn from the network's seeded generator.
 */
export interface LinkOptions {
  /**
   * Delivery delay in milliseconds: a fixed number, or `[min, max]` for a delay drawn uniformly
   * from that range for each message (which reorders messages). Default `0`: delivered on the
   * next timer tick of the clock.
   */
  readonly delayMs?: number | readonly [min: number, max: number];
  /** Probability in [0, 1] that a message is lost. Default `0`. */
  readonly lossProbability?: number;
  /** Probability in [0, 1] that a message is delivered twice (each copy with its own delay). Default `0`. */
  readonly duplicateProbability?: number;
}

/** {@link LinkOptions} with every field filled in. */
export interface ResolvedLink {
  /** Shortest delivery delay, in milliseconds. */
  readonly minDelayMs: number;
  /** Longest delivery delay, in milliseconds. */
  readonly maxDelayMs: number;
  /** Probability that a message is lost. */
  readonly lossProbability: number;
  /** Probability that a message is delivered twice. */
  readonly duplicateProbability: number;
}

/** A perfect link: no delay beyond one timer tick, no loss, no duplicates. */
export const PERFECT_LINK: ResolvedLink = { minDelayMs: 0, maxDelayMs: 0, lossProbability: 0, duplicateProbability: 0 };

/**
 * Validates `options` and fills the fields it leaves out from `base`.
 *
 * @param option - the option path reported in errors (e.g. `defaultLink`)
 * @throws An {@link InvalidArgumentError} naming the offending field
 */
export function resolveLink(options: LinkOptions | undefined, base: ResolvedLink, option: string): ResolvedLink {
  if (options === undefined) return base;
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(option, `must be an object (got ${describe(options)})`);
  }
  const { delayMs, lossProbability, duplicateProbability } = options;
  let minDelayMs = base.minDelayMs;
  let maxDelayMs = base.maxDelayMs;
  if (typeof delayMs === 'number') {
    minDelayMs = maxDelayMs = delay(delayMs, `${option}.delayMs`);
  } else if (delayMs !== undefined) {
    if (!Array.isArray(delayMs) || delayMs.length !== 2) {
      throw new InvalidArgumentError(`${option}.delayMs`, `must be a number or a [min, max] pair (got ${describe(delayMs)})`);
    }
    minDelayMs = delay(delayMs[0], `${option}.delayMs[0]`);
    maxDelayMs = delay(delayMs[1], `${option}.delayMs[1]`);
    if (minDelayMs > maxDelayMs) throw new InvalidArgumentError(`${option}.delayMs`, 'min must not exceed max');
  }
  return {
    minDelayMs,
    maxDelayMs,
    lossProbability: probability(lossProbability, base.lossProbability, `${option}.lossProbability`),
    duplicateProbability: probability(duplicateProbability, base.duplicateProbability, `${option}.duplicateProbability`),
  };
}

function delay(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(option, `must be a finite number ≥ 0 (got ${describe(value)})`);
  }
  return value;
}

function probability(value: unknown, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new InvalidArgumentError(option, `must be a number in [0, 1] (got ${describe(value)})`);
  }
  return value;
}
