/**
 * Strict JSON encoding of message payloads: a value is sent only if `JSON.parse` on the other
 * side gives back an equal value.
 *
 * @module
 */
import { InvalidArgumentError } from '../../core/errors.js';

/**
 * Encodes `value` as JSON text, rejecting everything that would not survive the round trip
 * unchanged instead of letting `JSON.stringify` silently alter or drop it.
 *
 * Rejected (with {@link InvalidArgumentError} naming `option`): `undefined` (as a value, an
 * object property or an array element, including holes of sparse arrays), functions, symbols,
 * `bigint`, `NaN` and `±Infinity`, objects other than plain objects and arrays (`Date`, `Map`,
 * class instances, `Buffer` …) and plain objects with a `toJSON` method, cycles, and nesting too deep for the encoder. Accepted as JSON
 * would: `-0` (arrives as `0`) and symbol-keyed properties (ignored).
 *
 * @param value - the value to encode
 * @param option - the argument name reported in the error (e.g. `payload`)
 * @throws An {@link InvalidArgumentError} if `value` is not JSON
 */
export function stringifyJson(value: unknown, option: string): string {
  const replacer = function (this: unknown, key: string, replaced: unknown): unknown {
    // `replaced` has been through toJSON() already; check the original value instead.
    const original = (this as Record<string, unknown>)[key];
    const problem = notJson(original);
    if (problem !== undefined) {
      const where = key === '' ? '' : ` at key ${JSON.stringify(key)}`;
      throw new InvalidArgumentError(option, `is not JSON: contains ${problem}${where}`);
    }
    return replaced;
  };
  try {
    return JSON.stringify(value, replacer) as string;
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    // TypeError for cycles, RangeError for nesting deeper than the call stack.
    throw new InvalidArgumentError(option, 'is not JSON: it is cyclic or nested too deeply', { cause: err });
  }
}

/** Describes why `value` is not a JSON value by itself (children are checked separately). */
function notJson(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : String(value);
    case 'object': {
      if (value === null || Array.isArray(value)) return undefined;
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto === Object.prototype || proto === null) {
        return typeof (value as { toJSON?: unknown }).toJSON === 'function' ? 'an object with a toJSON method' : undefined;
      }
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'a non-plain object';
    }
    default:
      return `a value of type ${typeof value}`;
  }
}
