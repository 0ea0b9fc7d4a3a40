/**
 * One TCP (or TLS) connection of the transport: runs the handshake, then turns the byte stream
 * into authenticated message bodies and message bodies into sealed frames.
 *
 * Nothing here throws out of a socket callback: a bad frame is reported through
 * {@link ConnectionHandlers.rejected} and the connection is destroyed; every other failure
 * closes the connection and is reported through {@link ConnectionHandlers.closed}.
 *
 * @module
 */
import type { Socket } from 'node:net';
import type { Clock, Timer } from '../../core/clock.js';
import { ProtocolError, TimeoutError } from '../../core/errors.js';
import type { NodeId } from '../../core/ids.js';
import { logger } from '../../core/log.js';
import { MAC_BYTES, type FrameOpener, type FrameSealer } from './frame-auth.js';
import {
  ENTRY_PREFIX_BYTES,
  FrameDecoder,
  FrameKind,
  frameSize,
  HEADER_BYTES,
  readEntriesAt,
  writeEntries,
  type FrameEntry,
  type RawFrame,
} from './frame-codec.js';
import { Handshake, type HandshakeOptions, type HandshakeStep } from './handshake.js';

/** The largest frame accepted before the peer is authenticated (hellos are ~200 bytes). */
const HANDSHAKE_MAX_FRAME_BYTES = 512;

const log = logger('transport').extend('tcp');

/** Idle time before the OS starts TCP keep-alive probes, which detect a vanished peer. */
const KEEPALIVE_MS = 15_000;

/**
 * Bytes that may wait in a socket's send buffer before the connection is given up as stalled
 * (a peer that stopped reading must not make this process buffer without bound).
 */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** What a connection reports to its owner. Handlers must not throw. */
export interface ConnectionHandlers {
  /** The handshake completed; `connection.peer` is authenticated. */
  readonly established: (connection: Connection) => void;
  /**
   * An authenticated message arrived: its encoding is `bytes[start, end)` (valid during the call
   * only), in a frame read from the socket at `receivedAt` on the clock.
   */
  readonly message: (connection: Connection, bytes: Buffer, start: number, end: number, receivedAt: number) => void;
  /** A frame was rejected; the connection is closed right after. */
  readonly rejected: (connection: Connection, error: ProtocolError) => void;
  /** The connection closed, for whatever reason (`error` is set when it failed). Called once. */
  readonly closed: (connection: Connection, error: Error | undefined) => void;
}

/** Options of {@link Connection}. */
export interface ConnectionOptions extends HandshakeOptions {
  /** The socket, connecting or connected. */
  readonly socket: Socket;
  /** For an outbound connection: the node expected at the other end. Absent for accepted ones. */
  readonly expectedPeer?: NodeId;
  /** The largest frame once authenticated. */
  readonly maxFrameBytes: number;
  /** Time limit for the connect and handshake. */
  readonly handshakeTimeoutMs: number;
  /** Close after this long without frames in either direction (0: never). */
  readonly idleTimeoutMs: number;
  /** The clock of the handshake and idle timers. */
  readonly clock: Clock;
  /** Where events go. */
  readonly handlers: ConnectionHandlers;
}

/** One connection: handshake, then authenticated frames both ways. */
export class Connection {
  /** The expected peer of an outbound connection, else the remote address (`host:port`), for reports. */
  readonly remote: string;
  /** `true` for an outbound connection, `false` for an accepted one. */
  readonly initiator: boolean;
  readonly #socket: Socket;
  readonly #options: ConnectionOptions;
  readonly #decoder: FrameDecoder;
  readonly #handshake: Handshake;
  #peer: NodeId | undefined;
  #sealer: FrameSealer | undefined;
  #opener: FrameOpener | undefined;
  #timer: Timer | undefined;
  #lastActivity: number;
  readonly #macBytes: number;
  #batch: FrameEntry[] = [];
  #batchSize = 0;
  #flushScheduled = false;
  #closing = false;
  #closed = false;
  #error: Error | undefined;

  constructor(options: ConnectionOptions) {
    const { socket, clock, expectedPeer } = options;
    this.#socket = socket;
    this.#options = options;
    this.remote = expectedPeer ?? `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.initiator = expectedPeer !== undefined;
    this.#lastActivity = clock.now();
    this.#macBytes = options.secret === undefined ? 0 : MAC_BYTES;
    this.#decoder = new FrameDecoder({ maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES, macBytes: this.#macBytes });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: Error) => {
      this.#error ??= err;
    });
    socket.on('close', () => this.#onClose());
    this.#timer = clock.setTimeout(() => {
      this.close(new TimeoutError(`handshake with ${this.remote}`, options.handshakeTimeoutMs));
    }, options.handshakeTimeoutMs);
    if (expectedPeer === undefined) {
      this.#handshake = Handshake.accept(options);
    } else {
      const { handshake, hello } = Handshake.initiate(options, expectedPeer);
      this.#handshake = handshake;
      this.#write(hello);
    }
  }

  /** The authenticated peer, once the handshake is done. */
  get peer(): NodeId | undefined {
    return this.#peer;
  }

  /** `true` once the handshake is done and until the connection closes. */
  get open(): boolean {
    return this.#sealer !== undefined && !this.#closing;
  }

  /**
   * Queues one encoded message for sending. Messages queued in the same tick go out together in
   * one frame (a new frame is started when the next message would not fit in `maxFrameBytes`).
   * Returns `false` if the connection is not open (the message was not queued).
   */
  send(message: FrameEntry): boolean {
    if (!this.open) return false;
    const size = this.#batchSize + ENTRY_PREFIX_BYTES + message.size;
    if (this.#batch.length > 0 && frameSize(size, this.#macBytes) > this.#options.maxFrameBytes) this.#flush();
    this.#batch.push(message);
    this.#batchSize += ENTRY_PREFIX_BYTES + message.size;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(this.#flushQueued);
    }
    return true;
  }

  /** Closes the connection (queued messages are written first). Idempotent. */
  close(error?: Error): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#error ??= error;
    if (this.#sealer !== undefined) this.#flush();
    this.#socket.destroy();
  }

  /** The end-of-tick flush of the messages queued by {@link Connection.send}. */
  readonly #flushQueued = (): void => {
    this.#flushScheduled = false;
    if (!this.#closing) this.#flush();
  };

  #flush(): void {
    if (this.#batch.length === 0) return;
    const entries = this.#batch;
    const size = this.#batchSize;
    this.#batch = [];
    this.#batchSize = 0;
    this.#write(this.#sealer!.seal(FrameKind.message, size, (frame) => writeEntries(frame, HEADER_BYTES, entries)));
  }

  #write(frame: Buffer): void {
    this.#lastActivity = this.#options.clock.now();
    this.#socket.write(frame);
    const limit = Math.max(MAX_BUFFERED_BYTES, 4 * this.#options.maxFrameBytes);
    if (!this.#closing && this.#socket.writableLength > limit) {
      this.close(new Error(`the peer does not read: more than ${limit} bytes wait to be sent`));
    }
  }

  #onData(chunk: Buffer): void {
    try {
      this.#decoder.push(chunk, this.#onFrame);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.#error ??= err;
        this.#options.handlers.rejected(this, err);
      }
      this.close(err instanceof Error ? err : new Error(String(err)));
    }
  }

  readonly #onFrame = (frame: RawFrame): void => {
    if (this.#closing) return;
    this.#lastActivity = this.#options.clock.now();
    if (this.#sealer === undefined) {
      this.#onHandshakeStep(this.#handshake.receive(frame));
      return;
    }
    this.#opener!.open(frame);
    if (frame.kind !== FrameKind.message) throw new ProtocolError('malformed', `unexpected frame kind ${frame.kind}`);
    const { bytes } = frame;
    readEntriesAt(bytes, HEADER_BYTES, bytes.length - this.#macBytes, this.#onEntry);
  };

  /** Hands one message of a frame on; `false` stops the frame's remaining messages once closing. */
  readonly #onEntry = (bytes: Buffer, start: number, end: number): boolean => {
    this.#options.handlers.message(this, bytes, start, end, this.#lastActivity);
    return !this.#closing;
  };

  #onHandshakeStep(step: HandshakeStep): void {
    for (const frame of step.send) this.#write(frame);
    const established = step.established;
    if (established === undefined) return;
    this.#peer = established.peer;
    this.#sealer = established.sealer;
    this.#opener = established.opener;
    this.#decoder.maxFrameBytes = this.#options.maxFrameBytes;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#options.idleTimeoutMs > 0) this.#armIdle(this.#options.idleTimeoutMs);
    this.#options.handlers.established(this);
  }

  #armIdle(delay: number): void {
    this.#timer = this.#options.clock.setTimeout(() => {
      const idleFor = this.#options.clock.now() - this.#lastActivity;
      const limit = this.#options.idleTimeoutMs;
      if (idleFor >= limit) this.close();
      else this.#armIdle(limit - idleFor);
    }, delay);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    try {
      this.#options.handlers.closed(this, this.#error);
    } catch (err) {
      log('the closed handler of %s threw: %O', this.remote, err);
    }
  }
}
