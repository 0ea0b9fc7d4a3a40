/**
 * Byte encodings used where bytes are hashed, signed, compared or checksummed.
 *
 * `fast-json-stable-stringify` is wrapped here once (STYLE note 9): it is slower than
 * `JSON.stringify` and throws on `bigint`, so only code that needs canonical bytes calls
 * {@link stableStringify}.
 *
 * @module
 */
import { crc32 as zlibCrc32 } from 'node:zlib';
import stringify from 'fast-json-stable-stringify';
import { StorageCorruptError } from './errors.js';
import type { JsonValue } from './json.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Canonical JSON text: object keys sorted, no whitespace. Equal values give equal strings. */
export function stableStringify(value: JsonValue): string {
  return stringify(value);
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Decodes UTF-8 strictly.
 *
 * @throws TypeError on invalid UTF-8
 */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Canonical JSON bytes of a value: UTF-8 of JSON with object keys sorted and no whitespace. */
export function encodeJson(value: JsonValue): Uint8Array {
  return encoder.encode(stringify(value));
}

/**
 * Parses JSON bytes read from storage or the network.
 *
 * @throws {@link StorageCorruptError} when the bytes are not valid UTF-8 JSON
 */
export function decodeJson(bytes: Uint8Array, what = 'record'): JsonValue {
  try {
    return JSON.parse(decoder.decode(bytes)) as JsonValue;
  } catch (err) {
    throw new StorageCorruptError(`${what} is not valid JSON`, { cause: err });
  }
}

/** CRC-32 (IEEE) of `bytes`, optionally continuing from a previous value. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  return zlibCrc32(bytes, previous);
}
