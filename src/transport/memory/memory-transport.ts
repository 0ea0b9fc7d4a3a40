/**
 * The {@link Transport} of one node on a {@link MemoryNetwork}.
 *
 * @module
 */
import { throwIfAborted } from '../../core/abort.js';
import { ClosedError, InvalidArgumentError, ProtocolError, UnreachableError } from '../../core/errors.js';
import { EventEmitter } from '../../core/events.js';
import { describe, nodeId, type NodeId } from '../../core/ids.js';
import type { JsonValue } from '../../core/json.js';
import { logger } from '../../core/log.js';
import type {
  MessageHandler,
  RequestOptions,
  SendOptions,
  Transport,
  TransportCapabilities,
  TransportEvents,
} from '../../contracts/transport.js';
import { checkDestination, checkMessageType, checkTimeoutMs } from '../shared/arguments.js';
import { HandlerRegistry } from '../shared/handler-registry.js';
import { PendingRequests } from '../shared/pending-requests.js';
import {
  decodeWireMessage,
  DEFAULT_MAX_FRAME_BYTES,
  encodeReply,
  encodeWireMessage,
  type WireMessage,
  type WireRequest,
  type WireSend,
} from '../shared/wire-message.js';
import type { MemoryNetwork } from './memory-network.js';
import { portOf, type Endpoint, type NetworkPort } from './network-port.js';

const log = logger('transport').extend('memory');

/** Options of {@link MemoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * The largest frame, in bytes of its JSON encoding, this transport sends or accepts (default
   * 1 MiB, as the TCP transport). Larger outgoing payloads reject with `InvalidArgumentError`;
   * larger incoming frames are dropped with a `frameRejected` event.
   */
  readonly maxFrameBytes?: number;
}

/**
 * The {@link Transport} of one node on a {@link MemoryNetwork}; usually created with
 * {@link MemoryNetwork.transport}. Not authenticated (`from` is whatever the network says) and
 * in-process only.
 *
 * Events: `peerConnected` / `peerDisconnected` when another node's transport starts / stops on
 * the network (partitions and pauses are not reported: like TCP, they show as time-outs), and
 * `frameRejected` for a frame that fails validation (only possible through
 * {@link MemoryNetwork.injectFrame} or a smaller `maxFrameBytes` than the sender's).
 */
export class MemoryTransport extends EventEmitter<TransportEvents> implements Transport {
  /** @inheritDoc */
  readonly self: NodeId;
  /** @inheritDoc */
  readonly capabilities: TransportCapabilities;
  readonly #port: NetworkPort;
  readonly #endpoint: Endpoint;
  readonly #handlers: HandlerRegistry;
  readonly #pending: PendingRequests;
  /** Aborts when the transport closes; the signal of every running handler follows it. */
  readonly #closing = new AbortController();
  #state: 'created' | 'started' | 'closed' = 'created';

  /**
   * @param network - the network to join
   * @param node - this node's id
   * @throws An {@link InvalidArgumentError} naming `network`, `node` or `maxFrameBytes`
   */
  constructor(network: MemoryNetwork, node: string, options: MemoryTransportOptions = {}) {
    super();
    this.#port = portOf(network);
    this.self = nodeId(node, 'node');
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1024) {
      throw new InvalidArgumentError('maxFrameBytes', `must be an integer ≥ 1024 (got ${describe(maxFrameBytes)})`);
    }
    this.capabilities = { authenticated: false, crossProcess: false, maxFrameBytes };
    this.#handlers = new HandlerRegistry(this.#port.clock);
    this.#pending = new PendingRequests(this.#port.clock);
    this.#endpoint = {
      node: this.self,
      deliver: (from, frame) => this.#receive(from, frame),
      peerUp: (peer) => this.emit('peerConnected', peer),
      peerDown: (peer) => {
        this.#pending.failAll(() => new UnreachableError(peer, 'its transport stopped'), peer);
        this.emit('peerDisconnected', peer);
      },
      kill: () => this.#shutdown(),
    };
  }

  /**
   * Joins the network. Idempotent.
   *
   * @throws A {@link ClosedError} after {@link MemoryTransport.close}
   * @throws An {@link InvalidArgumentError} if another transport of the same node is running
   * @throws `AbortedError` if `signal` has aborted
   */
  async start(options?: { readonly signal?: AbortSignal }): Promise<void> {
    throwIfAborted(options?.signal, `start of transport ${this.self}`);
    if (this.#state === 'closed') throw new ClosedError(`transport ${this.self}`);
    if (this.#state === 'started') return;
    this.#port.attach(this.#endpoint);
    this.#state = 'started';
  }

  /** @inheritDoc */
  async close(): Promise<void> {
    this.#shutdown();
  }

  /** @inheritDoc */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#shutdown();
  }

  /**
   * @inheritDoc
   * @throws An {@link InvalidArgumentError} naming `to`, `type` or `payload` (not JSON, or over
   *   `maxFrameBytes`)
   * @throws A {@link ClosedError} if the transport is not started or closed
   * @throws `AbortedError` if `signal` has aborted
   * @throws An {@link UnreachableError} if no transport of `to` is running
   */
  async send(to: NodeId, type: string, payload: JsonValue, options?: SendOptions): Promise<void> {
    const message: WireSend = { kind: 'send', from: this.self, to: checkDestination(to), type: checkMessageType(type), payload };
    const frame = encodeWireMessage(message, this.capabilities.maxFrameBytes);
    this.#checkStarted();
    throwIfAborted(options?.signal, `send of ${type} to ${to}`);
    this.#port.transmit(this.#endpoint, message.to, frame);
  }

  /**
   * @inheritDoc
   * @throws An {@link InvalidArgumentError} naming `to`, `type`, `timeoutMs` or `payload` (not JSON,
   *   or over `maxFrameBytes`)
   * @throws A {@link ClosedError} if the transport is not started, or closes before the reply
   */
  async request(to: NodeId, type: string, payload: JsonValue, options: RequestOptions): Promise<JsonValue> {
    const destination = checkDestination(to);
    const messageType = checkMessageType(type);
    const timeoutMs = checkTimeoutMs(options?.timeoutMs);
    this.#checkStarted();
    const signal = options?.signal;
    throwIfAborted(signal, `request ${type} to ${to}`);
    const { id, reply } = this.#pending.open({ to: destination, type: messageType, timeoutMs, signal });
    try {
      const request: WireRequest = { kind: 'request', id, from: this.self, to: destination, type: messageType, payload, timeoutMs };
      this.#port.transmit(this.#endpoint, destination, encodeWireMessage(request, this.capabilities.maxFrameBytes));
    } catch (err) {
      this.#pending.fail(id, err);
    }
    return reply;
  }

  /**
   * @inheritDoc
   * @throws An {@link InvalidArgumentError} naming `type` or `handler`
   */
  handle(type: string, handler: MessageHandler): () => void {
    return this.#handlers.handle(type, handler);
  }

  #checkStarted(): void {
    if (this.#state !== 'started') {
      throw new ClosedError(this.#state === 'created' ? `transport ${this.self} (not started)` : `transport ${this.self}`);
    }
  }

  #shutdown(): void {
    if (this.#state === 'closed') return;
    const wasStarted = this.#state === 'started';
    this.#state = 'closed';
    if (wasStarted) this.#port.detach(this.#endpoint);
    this.#closing.abort(new ClosedError(`transport ${this.self}`));
    this.#pending.failAll(() => new ClosedError(`transport ${this.self}`));
  }

  #receive(from: NodeId, frame: string): void {
    let message: WireMessage;
    try {
      message = decodeWireMessage(frame, { maxBytes: this.capabilities.maxFrameBytes, self: this.self, peer: from });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      log('%s rejected a frame from %s: %s', this.self, from, err.message);
      this.emit('frameRejected', err, from);
      return;
    }
    switch (message.kind) {
      case 'send':
        void this.#deliverOneWay(message);
        return;
      case 'request':
        void this.#answer(message);
        return;
      default:
        if (!this.#pending.settle(message)) log('%s ignored a late or duplicate reply %d from %s', this.self, message.id, from);
    }
  }

  async #deliverOneWay(message: WireSend): Promise<void> {
    const { type, from, payload } = message;
    const outcome = await this.#handlers.dispatch(
      { type, from, payload, expectsReply: false },
      { signal: this.#closing.signal },
    );
    if (!outcome.ok) log('%s: one-way %s from %s failed: %s', this.self, type, from, outcome.failure.message);
  }

  async #answer(request: WireRequest): Promise<void> {
    const { type, from, payload, timeoutMs } = request;
    const outcome = await this.#handlers.dispatch(
      { type, from, payload, expectsReply: true },
      { signal: this.#closing.signal, timeoutMs },
    );
    if (this.#state !== 'started') return;
    try {
      this.#port.transmit(this.#endpoint, from, encodeReply(request, outcome, this.capabilities.maxFrameBytes));
    } catch (err) {
      log('%s could not answer %s from %s: %s', this.self, type, from, err);
    }
  }
}
