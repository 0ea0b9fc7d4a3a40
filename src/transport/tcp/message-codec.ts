/**
 * The binary encoding of one transport message inside a message frame (see `frame-codec.ts`):
 *
 * ```
 * offset  size  field
 * 0       1     kind: 1 send, 2 request, 3 reply, 4 error
 * 1       1     flags: bit 0 = retryable (error replies only); every other bit must be 0
 * 2       1     h: bytes of the head
 * 3       8     id (f64): a positive safe integer for request, reply and error; 0 for send
 * 11      8     timeoutMs (f64): positive and finite for a request; 0 otherwise
 * 19      h     head, ASCII: the message type (send, request), the error code (error), empty (reply)
 * 19+h    …     text, UTF-8 to the end of the entry: the JSON payload (send, request, reply)
 *               or the error message (error)
 * ```
 *
 * There are no sender and receiver fields: the handshake authenticated both ends of the
 * connection, so every message on it comes from the peer and is addressed to this node. Only
 * the payload is JSON; the envelope costs no JSON encoding or parsing, and a message cannot
 * claim another sender.
 *
 * Decoding validates every field (including that the payload is JSON) before a message is
 * handed on, and throws nothing but {@link ProtocolError}.
 *
 * @module
 */
import { InvalidArgumentError, ProtocolError } from '../../core/errors.js';
import type { NodeId } from '../../core/ids.js';
import type { JsonValue } from '../../core/json.js';
import { isMessageType } from '../../contracts/transport.js';
import { stringifyJson } from '../shared/json-text.js';
import {
  failureOf,
  isErrorCode,
  MAX_ERROR_MESSAGE_LENGTH,
  type HandlerOutcome,
  type WireFailure,
  type WireMessage,
} from '../shared/wire-message.js';
import type { FrameEntry } from './frame-codec.js';

/** Bytes before the head of every message. */
export const MESSAGE_HEADER_BYTES = 19;

/** The message kinds on the wire. */
const Kind = { send: 1, request: 2, reply: 3, error: 4 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/** Bit 0 of the flags: the error is retryable. */
const RETRYABLE = 1;

/** A message encoded and sized, ready to be written into a frame by `writeEntries`. */
export class EncodedMessage implements FrameEntry {
  /** Bytes of the encoded message. */
  readonly size: number;
  readonly #kind: Kind;
  readonly #flags: number;
  readonly #head: string;
  readonly #id: number;
  readonly #timeoutMs: number;
  readonly #text: string;
  readonly #textBytes: number;

  private constructor(kind: Kind, flags: number, head: string, id: number, timeoutMs: number, text: string, maxBytes: number) {
    this.#kind = kind;
    this.#flags = flags;
    this.#head = head;
    this.#id = id;
    this.#timeoutMs = timeoutMs;
    this.#text = text;
    this.#textBytes = Buffer.byteLength(text, 'utf8');
    this.size = MESSAGE_HEADER_BYTES + head.length + this.#textBytes;
    if (this.size > maxBytes) {
      throw new InvalidArgumentError('payload', `the message encodes to ${this.size} bytes, more than the limit of ${maxBytes}`);
    }
  }

  /**
   * A one-way message.
   *
   * @param type - a valid message type (checked by the caller)
   * @param payload - validated strictly (see `stringifyJson`)
   * @param maxBytes - the largest accepted encoding
   * @throws An {@link InvalidArgumentError} naming `payload` if it is not JSON or the message is too large
   */
  static send(type: string, payload: JsonValue, maxBytes: number): EncodedMessage {
    return new EncodedMessage(Kind.send, 0, type, 0, 0, stringifyJson(payload, 'payload'), maxBytes);
  }

  /**
   * A request.
   *
   * @param id - the request id (a positive safe integer)
   * @param type - a valid message type (checked by the caller)
   * @param payload - validated strictly (see `stringifyJson`)
   * @param timeoutMs - the caller's time limit (positive and finite; checked by the caller)
   * @param maxBytes - the largest accepted encoding
   * @throws An {@link InvalidArgumentError} naming `payload` if it is not JSON or the message is too large
   */
  static request(id: number, type: string, payload: JsonValue, timeoutMs: number, maxBytes: number): EncodedMessage {
    return new EncodedMessage(Kind.request, 0, type, id, timeoutMs, stringifyJson(payload, 'payload'), maxBytes);
  }

  /**
   * The answer to request `id`. If the handler's result cannot be encoded (not JSON, or too
   * large), the answer is an error reply with code `ERR_INVALID_ARGUMENT` instead, so the caller
   * always hears back.
   */
  static reply(id: number, outcome: HandlerOutcome, maxBytes: number): EncodedMessage {
    if (outcome.ok) {
      try {
        return new EncodedMessage(Kind.reply, 0, '', id, 0, stringifyJson(outcome.payload, 'payload'), maxBytes);
      } catch (err) {
        return EncodedMessage.#error(id, failureOf(err), maxBytes);
      }
    }
    return EncodedMessage.#error(id, outcome.failure, maxBytes);
  }

  static #error(id: number, failure: WireFailure, maxBytes: number): EncodedMessage {
    const { code, message, retryable } = failure;
    return new EncodedMessage(Kind.error, retryable ? RETRYABLE : 0, code, id, 0, message, maxBytes);
  }

  /** Writes the message into `frame` at `offset` (which has {@link EncodedMessage.size} bytes of room). */
  writeTo(frame: Buffer, offset: number): void {
    const head = this.#head;
    frame[offset] = this.#kind;
    frame[offset + 1] = this.#flags;
    frame[offset + 2] = head.length;
    frame.writeDoubleBE(this.#id, offset + 3);
    frame.writeDoubleBE(this.#timeoutMs, offset + 11);
    const textAt = offset + MESSAGE_HEADER_BYTES + head.length;
    if (head.length > 0) frame.write(head, offset + MESSAGE_HEADER_BYTES, head.length, 'latin1');
    if (this.#textBytes > 0) frame.write(this.#text, textAt, this.#textBytes, 'utf8');
  }
}

/**
 * Decodes and validates the message in `bytes[start, end)`, which came from the authenticated
 * peer `from` to this node `to`. The result shares nothing with `bytes`.
 *
 * @throws A {@link ProtocolError} (`malformed`) naming the first invalid field
 */
export function decodeMessage(bytes: Buffer, start: number, end: number, from: NodeId, to: NodeId): WireMessage {
  if (end - start < MESSAGE_HEADER_BYTES) malformed('message', 'shorter than its header');
  const kind = bytes[start]!;
  if (kind < Kind.send || kind > Kind.error) malformed('kind', `unknown message kind ${kind}`);
  const flags = bytes[start + 1]!;
  const headAt = start + MESSAGE_HEADER_BYTES;
  const textAt = headAt + bytes[start + 2]!;
  if (textAt > end) malformed('head', 'overruns the message');
  const id = bytes.readDoubleBE(start + 3);
  const timeoutMs = bytes.readDoubleBE(start + 11);
  if (flags & ~(kind === Kind.error ? RETRYABLE : 0)) malformed('flags', 'unknown bits set');
  if (kind !== Kind.request && timeoutMs !== 0) malformed('timeoutMs', 'set on a message that is not a request');
  switch (kind) {
    case Kind.send:
      if (id !== 0) malformed('id', 'set on a one-way message');
      return { kind: 'send', from, to, type: messageType(bytes, headAt, textAt), payload: payloadOf(bytes, textAt, end) };
    case Kind.request:
      if (!(timeoutMs > 0 && timeoutMs < Number.POSITIVE_INFINITY)) malformed('timeoutMs', 'not a positive number');
      return {
        kind: 'request',
        id: idOf(id),
        from,
        to,
        type: messageType(bytes, headAt, textAt),
        payload: payloadOf(bytes, textAt, end),
        timeoutMs,
      };
    case Kind.reply:
      if (textAt !== headAt) malformed('head', 'set on a reply');
      return { kind: 'reply', id: idOf(id), from, to, payload: payloadOf(bytes, textAt, end) };
    case Kind.error: {
      const code = bytes.toString('latin1', headAt, textAt);
      if (!isErrorCode(code)) malformed('code', 'not an error code');
      const message = bytes.toString('utf8', textAt, end);
      if (message.length > MAX_ERROR_MESSAGE_LENGTH) malformed('message', 'too long');
      return { kind: 'error', id: idOf(id), from, to, code, message, retryable: (flags & RETRYABLE) !== 0 };
    }
  }
  return malformed('kind', `unknown message kind ${kind}`);
}

function messageType(bytes: Buffer, start: number, end: number): string {
  const type = bytes.toString('latin1', start, end);
  if (!isMessageType(type)) malformed('type', 'not a valid message type');
  return type;
}

function idOf(id: number): number {
  if (!Number.isSafeInteger(id) || id < 1) malformed('id', 'not a positive integer');
  return id;
}

/** Parses the payload: any JSON text is a valid payload. */
function payloadOf(bytes: Buffer, start: number, end: number): JsonValue {
  try {
    return JSON.parse(bytes.toString('utf8', start, end)) as JsonValue;
  } catch (err) {
    throw new ProtocolError('malformed', 'payload: not JSON', { cause: err });
  }
}

function malformed(field: string, problem: string): never {
  throw new ProtocolError('malformed', `${field}: ${problem}`);
}
