/**
 * Per-direction frame authentication: an HMAC-SHA256 over the whole frame (length prefix,
 * version, kind, sequence number and body) under a per-connection key, and a sequence number
 * that must grow by exactly one per frame. A frame replayed within a connection fails the
 * sequence check; a frame replayed on another connection fails the MAC, because every
 * connection has its own keys (see `handshake.ts`).
 *
 * Under mutual TLS frames carry no MAC (`key` is `undefined`): TLS already authenticates and
 * orders the bytes; the sequence check stays.
 *
 * @module
 */
import { ProtocolError } from '../../core/errors.js';
import { allocFrame, HEADER_BYTES, type FrameKind, type RawFrame } from './frame-codec.js';
import { HMAC_BYTES, HmacSha256 } from './hmac.js';

/** Bytes of the MAC of every frame authenticated under a key (HMAC-SHA256). */
export const MAC_BYTES: number = HMAC_BYTES;

/** Encodes and authenticates the frames of one direction of one connection. */
export class FrameSealer {
  readonly #mac: HmacSha256 | undefined;
  #seq: number;

  /**
   * @param key - the HMAC key of this direction, or `undefined` for frames without MAC
   * @param firstSeq - the sequence number of the first frame
   */
  constructor(key: Buffer | undefined, firstSeq = 0) {
    this.#mac = key === undefined ? undefined : new HmacSha256(key);
    this.#seq = firstSeq;
  }

  /**
   * Encodes the next frame: assigns its sequence number, lets `writeBody` fill the body of
   * `bodyBytes` (at {@link HEADER_BYTES}), and appends the MAC.
   */
  seal(kind: FrameKind, bodyBytes: number, writeBody: (frame: Buffer) => void): Buffer {
    const mac = this.#mac;
    const frame = allocFrame(kind, this.#seq++, bodyBytes, mac === undefined ? 0 : MAC_BYTES);
    writeBody(frame);
    if (mac !== undefined) mac.signPrefix(frame, frame.length - MAC_BYTES);
    return frame;
  }

  /** Encodes the next frame with `body` as its body (see {@link FrameSealer.seal}). */
  sealBytes(kind: FrameKind, body: Uint8Array): Buffer {
    return this.seal(kind, body.length, (frame) => frame.set(body, HEADER_BYTES));
  }
}

/** Verifies the frames of one direction of one connection. */
export class FrameOpener {
  readonly #mac: HmacSha256 | undefined;
  #next: number;

  /**
   * @param key - the HMAC key of this direction, or `undefined` for frames without MAC
   * @param firstSeq - the sequence number the first frame must carry
   */
  constructor(key: Buffer | undefined, firstSeq = 0) {
    this.#mac = key === undefined ? undefined : new HmacSha256(key);
    this.#next = firstSeq;
  }

  /**
   * Checks the frame's MAC, then its sequence number, and consumes the sequence number.
   *
   * @throws {@link ProtocolError} `bad-mac`, `replay` (a number already seen) or `sequence`
   *   (a number skipped)
   */
  open(frame: RawFrame): void {
    if (this.#mac !== undefined && !this.#mac.verifyPrefix(frame.bytes, frame.bytes.length - MAC_BYTES)) {
      throw new ProtocolError('bad-mac', 'frame authentication failed');
    }
    if (frame.seq !== this.#next) {
      throw frame.seq < this.#next
        ? new ProtocolError('replay', `sequence number ${frame.seq} already seen (expected ${this.#next})`)
        : new ProtocolError('sequence', `sequence number ${frame.seq} skips ahead (expected ${this.#next})`);
    }
    this.#next++;
  }
}
