/**
 * Validation of storage keys, stream names and prefixes — the same rules for every adapter, so a
 * key that works on one works on all (see the Storage contract).
 *
 * @module
 */
import { InvalidKeyError } from '../core/errors.js';

/** The longest key or stream name, in characters (= bytes: keys are ASCII). */
export const MAX_KEY_LENGTH = 512;

/**
 * Checks a record key or stream name.
 *
 * @throws {@link InvalidKeyError} if it breaks a rule
 */
export function validateKey(key: unknown): string {
  if (typeof key !== 'string') throw new InvalidKeyError(String(key), 'must be a string');
  const reason = keyProblem(key, false);
  if (reason !== undefined) throw new InvalidKeyError(key, reason);
  return key;
}

/**
 * Checks a listing or watch prefix: `''` (everything), or the start of a valid key; it may end
 * with `/`.
 *
 * @throws {@link InvalidKeyError} if it breaks a rule
 */
export function validatePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string') throw new InvalidKeyError(String(prefix), 'prefix must be a string');
  if (prefix === '') return prefix;
  const reason = keyProblem(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, true);
  if (reason !== undefined) throw new InvalidKeyError(prefix, reason);
  return prefix;
}

function keyProblem(key: string, isPrefix: boolean): string | undefined {
  if (key.length === 0) return 'must not be empty';
  if (key.length > MAX_KEY_LENGTH) return `must be at most ${MAX_KEY_LENGTH} characters`;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return `character ${i} (code ${c}) is not printable ASCII`;
  }
  const segments = key.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    // A prefix may end in a partial segment such as "a/." (the start of "a/.x"), but never in "..".
    const partialLast = isPrefix && i === segments.length - 1;
    if (s === '') return 'must not have empty segments (leading, trailing or double "/")';
    if (s === '..' || (s === '.' && !partialLast)) return 'must not have "." or ".." segments';
  }
  return undefined;
}
