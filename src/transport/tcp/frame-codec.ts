/**
 * The frame layout of the TCP transport and its stream decoder.
 *
 * ```
 * offset  size  field
 * 0       4     length: bytes that follow this field (big-endian u32)
 * 4       1     version (FRAME_VERSION)
 * 5       1     kind (FrameKind)
 * 6       8     sequence number (big-endian u64, < 2^53)
 * 14      n     body
 * 14+n    m     MAC over bytes 0 … 14+n (m = 32 for HMAC-SHA256, 0 under mutual TLS)
 * ```
 *
 * The body of a message frame holds one or more messages (all those queued in one tick), each
 * as `u32 length ‖ message` (the message layout is in `message-codec.ts`), so one MAC and one
 * write serve a whole batch. Version 1 carried each message as a JSON envelope; version 2 (this
 * one) carries a binary envelope with a JSON payload.
 *
 * The decoder is pure (no sockets, no timers): it splits a byte stream into frames, checks the
 * length against the limit as soon as the 4 length bytes are in (before buffering the body) and
 * the version as soon as its byte is in. MAC and sequence checks are done by `FrameOpener`.
 *
 * @module
 */
import { ProtocolError } from '../../core/errors.js';

/** The only frame layout version this implementation speaks. */
export const FRAME_VERSION = 2;

/** Bytes of the length prefix. */
export const LENGTH_BYTES = 4;

/** Bytes before the body: length prefix, version, kind and sequence number. */
export const HEADER_BYTES = 14;

/** Frame kinds: the two handshake steps and application messages. */
export const FrameKind = {
  /** Handshake: node id, expected peer id and a fresh nonce. */
  hello: 1,
  /** Handshake: the initiator proves it derived the connection keys. Empty body. */
  finish: 2,
  /** Transport messages (see `message-codec.ts`). */
  message: 3,
} as const;

/** One of the {@link FrameKind} values. */
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** A frame cut out of the stream, not yet authenticated. */
export interface RawFrame {
  /** The frame kind. */
  readonly kind: FrameKind;
  /** The sequence number. */
  readonly seq: number;
  /** The whole frame, length prefix and MAC included. */
  readonly bytes: Buffer;
  /** The body (a view into `bytes`). */
  readonly body: Buffer;
  /** The MAC (a view into `bytes`; empty when frames carry no MAC). */
  readonly mac: Buffer;
}

/** The encoded size of a frame with a body of `bodyBytes` and a MAC of `macBytes`. */
export function frameSize(bodyBytes: number, macBytes: number): number {
  return HEADER_BYTES + bodyBytes + macBytes;
}

/**
 * Allocates a frame of `bodyBytes` and `macBytes` and writes its header. The caller writes the
 * body at {@link HEADER_BYTES} and the MAC after it.
 */
export function allocFrame(kind: FrameKind, seq: number, bodyBytes: number, macBytes: number): Buffer {
  const size = frameSize(bodyBytes, macBytes);
  const frame = Buffer.allocUnsafe(size);
  frame.writeUInt32BE(size - LENGTH_BYTES, 0);
  frame[4] = FRAME_VERSION;
  frame[5] = kind;
  frame.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), 6);
  frame.writeUInt32BE(seq >>> 0, 10);
  return frame;
}

/** Bytes of the length prefix of each message in a message frame's body. */
export const ENTRY_PREFIX_BYTES = 4;

/** Something that can be written as one entry of a message frame's body (see `message-codec.ts`). */
export interface FrameEntry {
  /** Bytes of the entry, its length prefix not included. */
  readonly size: number;
  /** Writes the entry's bytes into `frame` at `offset`. */
  writeTo(frame: Buffer, offset: number): void;
}

/** Called with the bytes `bytes[start, end)` of each entry; returns `false` to stop. */
export type EntryReader = (bytes: Buffer, start: number, end: number) => boolean;

/** The body size of a message frame carrying `entries`: each is stored as `u32 length ‖ bytes`. */
export function entriesSize(entries: readonly FrameEntry[]): number {
  let size = 0;
  for (const entry of entries) size += ENTRY_PREFIX_BYTES + entry.size;
  return size;
}

/** Writes `entries`, each with its length prefix, into `frame` from `offset` on. */
export function writeEntries(frame: Buffer, offset: number, entries: readonly FrameEntry[]): void {
  let at = offset;
  for (const entry of entries) {
    frame.writeUInt32BE(entry.size, at);
    entry.writeTo(frame, at + ENTRY_PREFIX_BYTES);
    at += ENTRY_PREFIX_BYTES + entry.size;
  }
}

/**
 * Calls `onEntry` with the bytes of each entry of a message frame's body, in order, while it
 * returns `true`.
 *
 * @throws {@link ProtocolError} `malformed` when the body is empty or the entries do not fill it
 *   exactly (checked before the first call)
 */
export function readEntries(body: Buffer, onEntry: EntryReader): void {
  readEntriesAt(body, 0, body.length, onEntry);
}

/**
 * {@link readEntries} on the body `bytes[start, end)`, without making a view of it.
 *
 * @throws {@link ProtocolError} `malformed` as {@link readEntries}
 */
export function readEntriesAt(bytes: Buffer, start: number, end: number, onEntry: EntryReader): void {
  let count = 0;
  for (let at = start; at < end; count++) {
    if (end - at < ENTRY_PREFIX_BYTES) throw new ProtocolError('malformed', 'truncated message entry');
    at += ENTRY_PREFIX_BYTES + bytes.readUInt32BE(at);
    if (at > end) throw new ProtocolError('malformed', 'message entry overruns its frame');
  }
  if (count === 0) throw new ProtocolError('malformed', 'message frame without messages');
  for (let at = start; at < end; ) {
    const next = at + ENTRY_PREFIX_BYTES + bytes.readUInt32BE(at);
    if (!onEntry(bytes, at + ENTRY_PREFIX_BYTES, next)) return;
    at = next;
  }
}

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** The largest accepted frame, length prefix included. */
  readonly maxFrameBytes: number;
  /** Bytes of MAC at the end of every frame. */
  readonly macBytes: number;
}

/**
 * Splits a byte stream into {@link RawFrame}s. After the first {@link ProtocolError} the decoder
 * is failed: every later {@link FrameDecoder.push} throws the same error.
 */
export class FrameDecoder {
  /** The largest accepted frame; may be raised once the peer is authenticated. */
  maxFrameBytes: number;
  readonly #macBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #frameBytes = 0;
  #versionChecked = false;
  #failure: ProtocolError | undefined;

  constructor(options: FrameDecoderOptions) {
    this.maxFrameBytes = options.maxFrameBytes;
    this.#macBytes = options.macBytes;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Adds bytes from the stream and calls `onFrame` for each complete frame, in order.
   *
   * @throws {@link ProtocolError} (`oversized`, `version`, `malformed`) at the first bad frame;
   *   frames before it have been delivered.
   */
  push(chunk: Uint8Array, onFrame: (frame: RawFrame) => void): void {
    if (this.#failure) throw this.#failure;
    if (chunk.length === 0) return;
    this.#chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.#buffered += chunk.length;
    try {
      for (;;) {
        if (this.#frameBytes === 0) {
          if (this.#buffered < LENGTH_BYTES) return;
          this.#frameBytes = this.#readLength();
        }
        if (!this.#versionChecked) {
          if (this.#buffered <= LENGTH_BYTES) return;
          this.#checkVersion();
        }
        if (this.#buffered < this.#frameBytes) return;
        const bytes = this.#take(this.#frameBytes);
        this.#frameBytes = 0;
        this.#versionChecked = false;
        onFrame(this.#parse(bytes));
      }
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.#failure = err;
        this.#chunks = [];
        this.#buffered = 0;
      }
      throw err;
    }
  }

  #readLength(): number {
    const size = LENGTH_BYTES + this.#peek(LENGTH_BYTES).readUInt32BE(0);
    if (size > this.maxFrameBytes) {
      throw new ProtocolError('oversized', `frame of ${size} bytes exceeds the limit of ${this.maxFrameBytes}`);
    }
    if (size < frameSize(0, this.#macBytes)) {
      throw new ProtocolError('malformed', `frame of ${size} bytes is shorter than a header and MAC`);
    }
    return size;
  }

  #checkVersion(): void {
    const version = this.#peek(LENGTH_BYTES + 1)[LENGTH_BYTES];
    if (version !== FRAME_VERSION) throw new ProtocolError('version', `unsupported frame version ${version}`);
    this.#versionChecked = true;
  }

  #parse(bytes: Buffer): RawFrame {
    const kind = bytes[5];
    if (kind !== FrameKind.hello && kind !== FrameKind.finish && kind !== FrameKind.message) {
      throw new ProtocolError('malformed', `unknown frame kind ${kind}`);
    }
    const high = bytes.readUInt32BE(6);
    if (high > 0x1f_ffff) throw new ProtocolError('malformed', 'sequence number beyond 2^53');
    return new DecodedFrame(kind, high * 0x1_0000_0000 + bytes.readUInt32BE(10), bytes, this.#macBytes);
  }

  /** The first `n` buffered bytes without consuming them (`n` ≤ buffered). */
  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    this.#chunks = [Buffer.concat(this.#chunks, this.#buffered)];
    return this.#chunks[0]!;
  }

  /** Removes and returns the first `n` buffered bytes (`n` ≤ buffered). */
  #take(n: number): Buffer {
    const first = this.#peek(n);
    this.#buffered -= n;
    if (first.length === n) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }
}

/** A {@link RawFrame} whose `body` and `mac` views are made on first use (the connection reads the body in place). */
class DecodedFrame implements RawFrame {
  readonly kind: FrameKind;
  readonly seq: number;
  readonly bytes: Buffer;
  readonly #macBytes: number;
  #body: Buffer | undefined;
  #mac: Buffer | undefined;

  constructor(kind: FrameKind, seq: number, bytes: Buffer, macBytes: number) {
    this.kind = kind;
    this.seq = seq;
    this.bytes = bytes;
    this.#macBytes = macBytes;
  }

  get body(): Buffer {
    this.#body ??= this.bytes.subarray(HEADER_BYTES, this.bytes.length - this.#macBytes);
    return this.#body;
  }

  get mac(): Buffer {
    this.#mac ??= this.bytes.subarray(this.bytes.length - this.#macBytes);
    return this.#mac;
  }
}
