/**
 * HMAC-SHA256 (RFC 2104) with the key's inner and outer pads computed once per key.
 *
 * Why not `createHmac`: a transport MACs every frame, and on Node 20 `createHmac(…).update(…)
 * .digest()` costs about twice as much as two one-shot `crypto.hash` calls for frames of a few
 * hundred bytes (object set-up and Buffer results dominate). This computes exactly
 * `H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m))`; the tests compare it with `createHmac`.
 *
 * @module
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';

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
  readonly #tag = Buffer.alloc(HMAC_BYTES);

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
  }

  /** Writes the tag of `data` into `out` at `offset`. */
  sign(data: Uint8Array, out: Buffer, offset: number): void {
    out.write(this.#digest(data), offset, HMAC_BYTES, 'hex');
  }

  /** `true` if `tag` is the tag of `data` (constant-time comparison). */
  verify(data: Uint8Array, tag: Uint8Array): boolean {
    if (tag.length !== HMAC_BYTES) return false;
    this.#tag.write(this.#digest(data), 0, HMAC_BYTES, 'hex');
    return timingSafeEqual(this.#tag, tag);
  }

  /** The tag of `data` as hex (one-shot hashes with hex output avoid allocating Buffers). */
  #digest(data: Uint8Array): string {
    if (data.length > MAX_SCRATCH_BYTES) return createHmac('sha256', this.#key).update(data).digest('hex');
    if (this.#inner.length < BLOCK_BYTES + data.length) {
      this.#inner = Buffer.alloc(BLOCK_BYTES + Math.min(MAX_SCRATCH_BYTES, Math.max(512, 2 * data.length)));
      this.#ipad.copy(this.#inner);
    }
    this.#inner.set(data, BLOCK_BYTES);
    this.#outer.write(hash('sha256', this.#inner.subarray(0, BLOCK_BYTES + data.length), 'hex'), BLOCK_BYTES, HMAC_BYTES, 'hex');
    return hash('sha256', this.#outer, 'hex');
  }
}
