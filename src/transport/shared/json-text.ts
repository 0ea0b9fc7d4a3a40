/**
 * Strict JSON encoding of message payloads: a value is sent only if `JSON.parse` on the other
 * side gives back an equal value.
 *
 * @module
 */
import { InvalidArgumentError } from '../../core/errors.js';

/**
 * Nesting depth up to which {@link isPlainJson} vouches for a value. Deeper values (and cyclic
 * ones, whose depth is unbounded) take the exact, slower path of {@link stringifyJson}.
 */
const MAX_PLAIN_DEPTH = 512;

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
  return plainJsonText(value) ?? stringifyChecked(value, option);
}

/**
 * The fast path: the JSON text of `value` when a quick walk ({@link isPlainJson}) finds nothing
 * but strings, finite numbers, booleans, `null`, arrays and plain objects without `toJSON`,
 * else `undefined`, which means "not sure", not "rejected": {@link stringifyJson} then takes
 * the exact path, which gives the same text or the precise error. For such values plain
 * `JSON.stringify` (V8's fast serializer) gives exactly the text the checking replacer would.
 */
function plainJsonText(value: unknown): string | undefined {
  try {
    return isPlainJson(value, 0) ? JSON.stringify(value) : undefined;
  } catch {
    // A throwing getter or proxy trap: the exact path reports it as it always did.
    return undefined;
  }
}

/**
 * `true` if `value` is certainly accepted by {@link stringifyChecked} and encoded by plain
 * `JSON.stringify` to the same text: strings, finite numbers, booleans, `null`, and arrays and
 * plain objects (no `toJSON` method) of such values, nested at most {@link MAX_PLAIN_DEPTH}
 * deep. `false` means "not sure", never "rejected": the caller then takes the exact path.
 *
 * Objects are walked with `for … in`, which visits every key `JSON.stringify` serialises (own
 * enumerable string keys) and possibly more (inherited enumerable ones), so the walk can only be
 * stricter than the encoder, never laxer.
 */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return value - value === 0; // finite
    case 'object': {
      if (value === null) return true;
      if (depth >= MAX_PLAIN_DEPTH) return false;
      if (Array.isArray(value)) {
        // An array's toJSON (own or patched into Array.prototype) would be called by the encoder.
        if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
        const items = value as readonly unknown[];
        for (let i = 0; i < items.length; i++) if (!isPlainJson(items[i], depth + 1)) return false;
        return true;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      const object = value as Record<string, unknown>;
      if (typeof object['toJSON'] === 'function') return false;
      for (const key in object) if (!isPlainJson(object[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

/**
 * The exact path: `JSON.stringify` with a replacer that checks every value before the encoder
 * sees it, so the first offending value (in the encoder's order) is the one reported.
 */
function stringifyChecked(value: unknown, option: string): string {
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
