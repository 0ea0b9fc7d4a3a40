/**
 * Validation of the numeric options of the transaction components: every bad value is an
 * `InvalidArgumentError` naming the option (DESIGN rule 4).
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';
import { describe } from '../core/ids.js';

/** `value` if it is a positive finite number of milliseconds, `fallback` if undefined; throws otherwise. */
export function positiveMs(value: unknown, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(option, `must be a positive number of milliseconds (got ${describe(value)})`);
  }
  return value;
}

/** `value` if it is a positive safe integer, `fallback` if undefined; throws otherwise. */
export function positiveCount(value: unknown, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(option, `must be a positive integer (got ${describe(value)})`);
  }
  return value;
}
