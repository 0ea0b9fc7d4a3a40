/**
 * The message envelope every transport exchanges, its JSON encoding and its validation.
 *
 * An adapter encodes outgoing messages with {@link encodeWireMessage} (which also validates the
 * payload and enforces the size limit, so bad input fails at the call with a typed error) and
 * decodes incoming ones with {@link decodeWireMessage} (which throws only {@link ProtocolError},
 * for the adapter to report through its `frameRejected` event). Adapters that add framing
 * (length prefix, MAC …) pass the limit that is left for the JSON body.
 *
 * @module
 */
import { InvalidArgumentError, ProtocolError } from '../../core/errors.js';
import { isNodeId, type NodeId } from '../../core/ids.js';
import type { JsonValue } from '../../core/json.js';
import { isMessageType } from '../../contracts/transport.js';
import { stringifyJson } from './json-text.js';

/** The default frame size limit of nonstop's transports: 1 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 1_048_576;

/** The longest error message carried by an error reply; longer ones are cut. */
export const MAX_ERROR_MESSAGE_LENGTH = 1_000;

const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** `true` if `code` can be carried as the code of an error reply (`ERR_…`-style, at most 64 characters). */
export function isErrorCode(code: unknown): code is string {
  return typeof code === 'string' && ERROR_CODE.test(code);
}

/** Fields of every envelope. */
interface Addressed {
  /** The sending node. */
  readonly from: NodeId;
  /** The destination node. */
  readonly to: NodeId;
}

/** A one-way message (`Transport.send`). */
export interface WireSend extends Addressed {
  /** Discriminant. */
  readonly kind: 'send';
  /** The message type. */
  readonly type: string;
  /** The JSON payload. */
  readonly payload: JsonValue;
}

/** A request (`Transport.request`). */
export interface WireRequest extends Addressed {
  /** Discriminant. */
  readonly kind: 'request';
  /** The request id, unique among the sender's pending requests; echoed by the reply. */
  readonly id: number;
  /** The message type. */
  readonly type: string;
  /** The JSON payload. */
  readonly payload: JsonValue;
  /** The caller's time limit; the receiver aborts the handler's signal this long after dispatch. */
  readonly timeoutMs: number;
}

/** A successful reply to a {@link WireRequest}. */
export interface WireReply extends Addressed {
  /** Discriminant. */
  readonly kind: 'reply';
  /** The id of the request answered. */
  readonly id: number;
  /** The handler's result (`null` when it returned nothing). */
  readonly payload: JsonValue;
}

/** A failed reply to a {@link WireRequest}: the handler threw, or there was no handler. */
export interface WireErrorReply extends Addressed, WireFailure {
  /** Discriminant. */
  readonly kind: 'error';
  /** The id of the request answered. */
  readonly id: number;
}

/** Any envelope. */
export type WireMessage = WireSend | WireRequest | WireReply | WireErrorReply;

/** The error carried by a {@link WireErrorReply}. */
export interface WireFailure {
  /** The `code` of the error the handler threw (`ERR_REMOTE` for non-nonstop errors, `ERR_NO_HANDLER`). */
  readonly code: string;
  /** Its message, at most {@link MAX_ERROR_MESSAGE_LENGTH} characters. */
  readonly message: string;
  /** Its `retryable` flag. */
  readonly retryable: boolean;
}

/** What answering a request produced: the reply payload, or the failure to send back. */
export type HandlerOutcome =
  | { /** The handler returned. */ readonly ok: true; /** Its result. */ readonly payload: JsonValue }
  | { /** The handler threw or was missing. */ readonly ok: false; /** The failure. */ readonly failure: WireFailure };

/**
 * Encodes an envelope as JSON text.
 *
 * @param message - the envelope; its payload is validated strictly (see `stringifyJson`)
 * @param maxBytes - the largest accepted encoding, in UTF-8 bytes
 * @throws An {@link InvalidArgumentError} naming `payload` if the payload is not JSON or the encoded
 *   message is larger than `maxBytes`
 */
export function encodeWireMessage(message: WireMessage, maxBytes: number): string {
  const text = stringifyJson(message, 'payload');
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: short texts need no byte count.
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxBytes) {
      throw new InvalidArgumentError('payload', `the message encodes to ${bytes} bytes, more than the limit of ${maxBytes}`);
    }
  }
  return text;
}

/**
 * Encodes the answer to `request`. If the handler's result cannot be encoded (not JSON, or too
 * large), the answer becomes an error reply with code `ERR_INVALID_ARGUMENT` instead, so the
 * caller always hears back.
 *
 * @param request - the request being answered (gives id and addresses)
 * @param outcome - the result of dispatching it (see `HandlerRegistry.dispatch`)
 * @param maxBytes - the largest accepted encoding, in UTF-8 bytes
 */
export function encodeReply(request: WireRequest, outcome: HandlerOutcome, maxBytes: number): string {
  const { id, to: from, from: to } = request;
  if (outcome.ok) {
    try {
      return encodeWireMessage({ kind: 'reply', id, from, to, payload: outcome.payload }, maxBytes);
    } catch (err) {
      return encodeError(id, from, to, failureOf(err), maxBytes);
    }
  }
  return encodeError(id, from, to, outcome.failure, maxBytes);
}

function encodeError(id: number, from: NodeId, to: NodeId, failure: WireFailure, maxBytes: number): string {
  const { code, message, retryable } = failure;
  return encodeWireMessage({ kind: 'error', id, from, to, code, message, retryable }, maxBytes);
}

/**
 * Converts anything a handler threw into the failure sent back to the caller: a `NonstopError`
 * keeps its `code` and `retryable` flag; anything else becomes `ERR_REMOTE`, not retryable.
 */
export function failureOf(err: unknown): WireFailure {
  const message = (err instanceof Error ? err.message : String(err)).slice(0, MAX_ERROR_MESSAGE_LENGTH);
  if (err instanceof Error) {
    const { code, retryable } = err as { code?: unknown; retryable?: unknown };
    // Duck-typed so that errors from another copy of nonstop keep their code too.
    if (isErrorCode(code) && typeof retryable === 'boolean') {
      return { code, message, retryable };
    }
  }
  return { code: 'ERR_REMOTE', message, retryable: false };
}

/** What {@link decodeWireMessage} checks besides the shape. */
export interface DecodeExpectations {
  /** The largest accepted frame text, in UTF-8 bytes. */
  readonly maxBytes: number;
  /** The receiving node: `to` must name it. */
  readonly self: NodeId;
  /** The peer the frame came from, when the link knows it: `from` must name it. */
  readonly peer?: NodeId | undefined;
}

/**
 * Parses and validates an incoming frame's JSON text. Unknown fields are ignored (and not
 * passed on); the result is a fresh object that shares nothing with the sender.
 *
 * @throws A {@link ProtocolError} with reason `oversized`, `malformed` (not JSON, or a field is
 *   missing or invalid), `misrouted` (`to` is not `self`) or `spoofed` (`from` is not `peer`)
 */
export function decodeWireMessage(frame: string, expect: DecodeExpectations): WireMessage {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: short frames need no byte count.
  if (frame.length * 3 > expect.maxBytes) {
    const bytes = Buffer.byteLength(frame, 'utf8');
    if (bytes > expect.maxBytes) {
      throw new ProtocolError('oversized', `frame of ${bytes} bytes exceeds the limit of ${expect.maxBytes}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch (err) {
    throw new ProtocolError('malformed', 'frame is not JSON', { cause: err });
  }
  const message = parseWireMessage(value);
  if (message.to !== expect.self) {
    throw new ProtocolError('misrouted', `frame addressed to ${message.to} reached ${expect.self}`);
  }
  if (expect.peer !== undefined && message.from !== expect.peer) {
    throw new ProtocolError('spoofed', `frame claims to come from ${message.from} but came from ${expect.peer}`);
  }
  return message;
}

/**
 * Validates the shape of a parsed envelope.
 *
 * @throws A {@link ProtocolError} (`malformed`) naming the first invalid field
 */
export function parseWireMessage(value: unknown): WireMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) malformed('frame', 'not an object');
  const v = value as Record<string, unknown>;
  const from = v['from'];
  const to = v['to'];
  if (!isNodeId(from)) malformed('from', 'not a node id');
  if (!isNodeId(to)) malformed('to', 'not a node id');
  switch (v['kind']) {
    case 'send':
      return { kind: 'send', from, to, type: messageType(v['type']), payload: payloadOf(v) };
    case 'request': {
      const timeoutMs = v['timeoutMs'];
      if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
        malformed('timeoutMs', 'not a positive number');
      }
      return { kind: 'request', id: idOf(v['id']), from, to, type: messageType(v['type']), payload: payloadOf(v), timeoutMs };
    }
    case 'reply':
      return { kind: 'reply', id: idOf(v['id']), from, to, payload: payloadOf(v) };
    case 'error': {
      const { code, message, retryable } = v;
      if (!isErrorCode(code)) malformed('code', 'not an error code');
      if (typeof message !== 'string' || message.length > MAX_ERROR_MESSAGE_LENGTH) malformed('message', 'not a string');
      if (typeof retryable !== 'boolean') malformed('retryable', 'not a boolean');
      return { kind: 'error', id: idOf(v['id']), from, to, code, message, retryable };
    }
    default:
      return malformed('kind', 'not one of send, request, reply, error');
  }
}

function messageType(type: unknown): string {
  if (!isMessageType(type)) malformed('type', 'not a valid message type');
  return type;
}

function idOf(id: unknown): number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) malformed('id', 'not a positive integer');
  return id;
}

/** The payload of a parsed envelope: the output of `JSON.parse` is JSON, it only has to be present. */
function payloadOf(v: Record<string, unknown>): JsonValue {
  if (!('payload' in v)) malformed('payload', 'missing');
  return v['payload'] as JsonValue;
}

function malformed(field: string, problem: string): never {
  throw new ProtocolError('malformed', `${field}: ${problem}`);
}
