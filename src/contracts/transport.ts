/**
 * The Transport contract: messages between nodes, addressed by logical {@link NodeId}, never by
 * IP address (SPEC R8).
 *
 * Guarantees every adapter gives (checked by `transportConformance` in `nonstop/testing`):
 *
 * - **At most once per send, no ordering across sends.** A message may be lost, and on simulated
 *   or reconnecting links it may arrive twice or out of order; components are idempotent
 *   (DESIGN rule 5).
 * - **Validated before delivery.** A handler only ever sees a message whose `type` is a valid
 *   message type, whose `from` is a valid node id (authenticated on real networks) and whose
 *   payload is JSON. A bad frame is dropped and reported through the `frameRejected` event; it
 *   never reaches a handler and never crashes the process.
 * - **Requests are bounded.** `request` always settles: with the handler's reply, a
 *   {@link RemoteError} carrying the handler's error code, {@link NoHandlerError},
 *   {@link UnreachableError}, {@link TimeoutError} or {@link AbortedError}.
 * - **Addresses are resolved late.** A node's host name and port are looked up through the
 *   {@link AddressResolver} each time a connection is made, so a node that moved is found again.
 *
 * @module
 */
import type { NodeId } from '../core/ids.js';
import type { JsonValue } from '../core/json.js';
import type { EventEmitter } from '../core/events.js';
import type {
  AbortedError,
  NoHandlerError,
  ProtocolError,
  RemoteError,
  TimeoutError,
  UnreachableError,
} from '../core/errors.js';

/** Where a node listens: a host *name* (or loopback literal in tests) and a TCP port. */
export interface NodeAddress {
  /** Host name (SPEC R8: prefer names to IP addresses). */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
}

/**
 * Finds a node's current address. Called at connect time, every time: adapters never cache the
 * answer across connections. Later the cluster configuration provides one backed by storage.
 * Returns `undefined` for an unknown node.
 */
export type AddressResolver = (node: NodeId) => NodeAddress | undefined | Promise<NodeAddress | undefined>;

/** A message as a handler receives it. */
export interface IncomingMessage {
  /** The message type, e.g. `ring.heartbeat`. */
  readonly type: string;
  /** The sending node (authenticated by adapters that support authentication). */
  readonly from: NodeId;
  /** The JSON payload; components validate its shape before use. */
  readonly payload: JsonValue;
  /** `true` if the sender awaits a reply (`request`), `false` for one-way `send`. */
  readonly expectsReply: boolean;
}

/** Context passed to a handler along with the message. */
export interface HandlerContext {
  /** Aborts when the transport closes, or when the request's deadline has passed. */
  readonly signal: AbortSignal;
}

/**
 * Handles one message type. For a request, the resolved value is the reply (`undefined` is sent
 * as `null`); a thrown `NonstopError` reaches the caller as a {@link RemoteError} with the same
 * code. For a one-way message the result is ignored.
 */
export type MessageHandler = (
  message: IncomingMessage,
  context: HandlerContext,
) => JsonValue | undefined | void | Promise<JsonValue | undefined | void>;

/** Options of {@link Transport.send}. */
export interface SendOptions {
  /** Abort the hand-off (the message may still have been sent). */
  readonly signal?: AbortSignal;
}

/** Options of {@link Transport.request}. */
export interface RequestOptions {
  /** Time limit in milliseconds for the whole round trip, measured on the transport's clock. */
  readonly timeoutMs: number;
  /** Abort the wait (the request may still be processed by the destination). */
  readonly signal?: AbortSignal;
}

/** What an adapter offers beyond the guarantees every adapter gives. */
export interface TransportCapabilities {
  /** Frames are authenticated (HMAC or mutual TLS), so `from` can be trusted. */
  readonly authenticated: boolean;
  /** Messages cross process boundaries. */
  readonly crossProcess: boolean;
  /** The largest encoded frame, in bytes, the adapter accepts. */
  readonly maxFrameBytes: number;
}

/** Events every transport emits. */
export interface TransportEvents {
  /** A frame was dropped before any handler saw it (malformed, oversized, bad MAC, replay …). */
  frameRejected: [error: ProtocolError, peer: string];
  /** A connection to or from `node` was established. */
  peerConnected: [node: NodeId];
  /** A connection to or from `node` was lost or closed. */
  peerDisconnected: [node: NodeId];
}

/** Messages between nodes. See the module documentation for the guarantees. */
export interface Transport extends EventEmitter<TransportEvents> {
  /** This node's logical name. */
  readonly self: NodeId;
  /** What this adapter offers. */
  readonly capabilities: TransportCapabilities;
  /** Starts listening and accepting connections. Idempotent. */
  start(options?: { readonly signal?: AbortSignal }): Promise<void>;
  /** Stops listening, closes connections, rejects pending requests with `ClosedError`. Idempotent. */
  close(): Promise<void>;
  /** Same as {@link Transport.close}. */
  [Symbol.asyncDispose](): Promise<void>;
  /**
   * One-way message. Resolves once the frame was handed to the link; delivery is not confirmed.
   * Rejects with {@link UnreachableError} if no connection to `to` could be made.
   */
  send(to: NodeId, type: string, payload: JsonValue, options?: SendOptions): Promise<void>;
  /** Sends a request and resolves with the handler's reply. See the module documentation. */
  request(to: NodeId, type: string, payload: JsonValue, options: RequestOptions): Promise<JsonValue>;
  /**
   * Registers the handler of one message type (one handler per type; registering again replaces
   * it). Returns a function that removes it.
   */
  handle(type: string, handler: MessageHandler): () => void;
}

/** The pattern message types must match: `component.name`, 1–128 characters. */
export const MESSAGE_TYPE_PATTERN: RegExp = /^[a-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

/** `true` if `type` is an acceptable message type. */
export function isMessageType(type: unknown): type is string {
  return typeof type === 'string' && type.length <= 128 && MESSAGE_TYPE_PATTERN.test(type);
}
