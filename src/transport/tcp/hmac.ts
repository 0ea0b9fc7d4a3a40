/**
 * HMAC-SHA256 (RFC 2104) with the key's inner and outer pads computed once per key.
 *
 * Why not `createHmac`: a transport MACs every frame, and on Node 20 `createHmac(…).update(…)
 * .digest()` costs about twice as much as two one-shot `crypto.hash` calls for frames of a few
 * hundred bytes (object set-up and Buffer results dominate). This computes exactly
 * `H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m))`; the tests compare it with `createHmac`. Digests are
 * taken as `latin1` strings (one character per byte: cheaper to make and to write into a
 * Buffer than hex, and no Buffer to allocate), and tags are compared in constant time by a
 * branch-free loop over the 32 bytes (cheaper than `timingSafeEqual` on two Buffer views).
 *
 * @module
 */
import { createHmac, hash } from 'node:crypto';

/** SHA-256 block size in bytes. */
const BLOCK_BYTES = 64;

/** Messages longer than this are MACed with `createHmac` (hashing dominates; no big scratch buffer kept). */
const MAX_SCRATCH_BYTES = 64 * 1024;

/** Bytes of an HMAC-SHA256 tag. */
export const HMAC_BYTES = 32;

/** An HMAC-SHA256 key, ready to sign and verify. Not safe for reentrant use (shared scratch space). */
export class HmacSha256 {
  readonly #key: Buffer;
  /** `K ⊕ opad` followed by room for the inner digest. */
  readonly #outer: Buffer;
  /** `K ⊕ ipad`. */
  readonly #ipad: Buffer;
  /** `K ⊕ ipad` followed by room for the message; grows up to {@link MAX_SCRATCH_BYTES}. */
  #inner: Buffer;
  /** The part of `#inner` hashed last time (`#ipad` at first and after `#inner` grew). */
  #innerView: Buffer;

  /** @param key - the key, at most 64 bytes (the transport's keys are 32-byte HMAC outputs) */
  constructor(key: Buffer) {
    if (key.length > BLOCK_BYTES) throw new RangeError('HMAC keys longer than 64 bytes are not supported');
    this.#key = key;
    this.#ipad = Buffer.alloc(BLOCK_BYTES, 0x36);
    this.#outer = Buffer.alloc(BLOCK_BYTES + HMAC_BYTES, 0x5c);
    for (let i = 0; i < key.length; i++) {
      this.#ipad[i]! ^= key[i]!;
      this.#outer[i]! ^= key[i]!;
    }
    this.#inner = this.#ipad;
    this.#innerView = this.#ipad;
  }

  /** Writes the tag of `data` into `out` at `offset`. */
  sign(data: Uint8Array, out: Buffer, offset: number): void {
    out.write(this.#digest(data, 0, data.length), offset, HMAC_BYTES, 'latin1');
  }

  /** `true` if `tag` is the tag of `data` (constant-time comparison). */
  verify(data: Uint8Array, tag: Uint8Array): boolean {
    return tag.length === HMAC_BYTES && equalTag(this.#digest(data, 0, data.length), tag, 0);
  }

  /** Writes the tag of `frame[0, end)` into `frame` at `end` (which must have room for it). */
  signPrefix(frame: Buffer, end: number): void {
    frame.write(this.#digest(frame, 0, end), end, HMAC_BYTES, 'latin1');
  }

  /**
   * `true` if `frame[end, end + HMAC_BYTES)` is the tag of `frame[0, end)` (constant-time
   * comparison; `frame` must hold the whole tag).
   */
  verifyPrefix(frame: Buffer, end: number): boolean {
    return frame.length >= end + HMAC_BYTES && equalTag(this.#digest(frame, 0, end), frame, end);
  }

  /**
   * The tag of `data[start, end)`, one character per byte (`latin1`, alias `binary`): one-shot hashes with
   * string output allocate no Buffers, and `latin1` is the cheapest string to make and to write.
   */
  #digest(data: Uint8Array, start: number, end: number): string {
    const length = end - start;
    if (length > MAX_SCRATCH_BYTES) {
      return createHmac('sha256', this.#key).update(data.subarray(start, end)).digest('binary');
    }
    if (this.#inner.length < BLOCK_BYTES + length) {
      this.#inner = Buffer.alloc(BLOCK_BYTES + Math.min(MAX_SCRATCH_BYTES, Math.max(512, 2 * length)));
      this.#ipad.copy(this.#inner);
      this.#innerView = this.#ipad;
    }
    if (Buffer.isBuffer(data)) data.copy(this.#inner, BLOCK_BYTES, start, end);
    else this.#inner.set(data.subarray(start, end), BLOCK_BYTES);
    // Frames of one direction mostly have the same length: keep the view of the last one.
    let view = this.#innerView;
    if (view.length !== BLOCK_BYTES + length) {
      view = this.#inner.subarray(0, BLOCK_BYTES + length);
      this.#innerView = view;
    }
    this.#outer.write(hash('sha256', view, 'binary'), BLOCK_BYTES, HMAC_BYTES, 'latin1');
    return hash('sha256', this.#outer, 'binary');
  }
}

/**
 * `true` if the `latin1` tag `expected` equals `tag[offset, offset + HMAC_BYTES)`, in time that
 * does not depend on where they differ.
 */
function equalTag(expected: string, tag: Uint8Array, offset: number): boolean {
  let difference = 0;
  for (let i = 0; i < HMAC_BYTES; i++) difference |= expected.charCodeAt(i) ^ tag[offset + i]!;
  return difference === 0;
}
