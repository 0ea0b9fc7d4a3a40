/**
 * The TCP transport: messages between processes over TCP, every frame authenticated with
 * HMAC-SHA256 under per-connection keys (or carried over mutual TLS).
 *
 * @module
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import { race, throwIfAborted } from '../../core/abort.js';
import { ClosedError, NonstopError, ProtocolError, UnreachableError } from '../../core/errors.js';
import { EventEmitter } from '../../core/events.js';
import type { NodeId } from '../../core/ids.js';
import type { JsonValue } from '../../core/json.js';
import { logger } from '../../core/log.js';
import type {
  MessageHandler,
  NodeAddress,
  RequestOptions,
  SendOptions,
  Transport,
  TransportCapabilities,
  TransportEvents,
} from '../../contracts/transport.js';
import { checkDestination, checkMessageType, checkTimeoutMs } from '../shared/arguments.js';
import { HandlerRegistry } from '../shared/handler-registry.js';
import { PendingRequests } from '../shared/pending-requests.js';
import type { HandlerOutcome, WireMessage, WireRequest } from '../shared/wire-message.js';
import { backoffDelay } from './backoff.js';
import { Connection, type ConnectionHandlers, type ConnectionOptions } from './connection.js';
import { MAC_BYTES } from './frame-auth.js';
import { ENTRY_PREFIX_BYTES, frameSize } from './frame-codec.js';
import { HmacSecurity, MutualTlsSecurity, type LinkSecurity } from './link-security.js';
import { decodeMessage, EncodedMessage } from './message-codec.js';
import { resolveTcpOptions, type ResolvedTcpOptions, type TcpTransportOptions } from './options.js';

const log = logger('transport').extend('tcp');

/** The outbound side of one peer: its connection, or the attempt under way, and the backoff state. */
interface Outbound {
  connection: Connection | undefined;
  connecting: Promise<Connection> | undefined;
  failures: number;
  retryAt: number;
  lastError: Error | undefined;
}

type State = 'new' | 'started' | 'closed';

/**
 * A {@link Transport} over TCP between processes and machines.
 *
 * - One outbound connection per peer, opened on the first `send` or `request` to it; the peer's
 *   address comes from `resolve` at every connection attempt. After a failed attempt, further
 *   attempts wait an exponential backoff with jitter; calls made meanwhile fail at once with
 *   `UnreachableError`.
 * - Requests go out on the outbound connection; replies come back on the connection the request
 *   arrived on. When that connection is lost, its requests fail with `UnreachableError`.
 * - Every connection starts with a handshake that authenticates both node ids and derives
 *   per-connection keys; every frame carries a MAC and a sequence number (see `handshake.ts` and
 *   `frame-codec.ts`). A bad frame is reported as `frameRejected` and closes its connection.
 *
 * ```ts
 * const transport = new TcpTransport({
 *   self: nodeId('node-a'),
 *   listen: { host: '0.0.0.0', port: 7400 },
 *   resolve: (node) => cluster.addressOf(node),
 *   secret: process.env.NONSTOP_SECRET!,
 * });
 * await transport.start();
 * ```
 */
export class TcpTransport extends EventEmitter<TransportEvents> implements Transport {
  /** @inheritDoc */
  readonly self: NodeId;
  /** @inheritDoc */
  readonly capabilities: TransportCapabilities;
  readonly #options: ResolvedTcpOptions;
  readonly #security: LinkSecurity;
  readonly #maxMessageBytes: number;
  readonly #registry: HandlerRegistry;
  readonly #pending: PendingRequests;
  readonly #closing = new AbortController();
  readonly #connections = new Set<Connection>();
  readonly #outbound = new Map<NodeId, Outbound>();
  readonly #connectedPeers = new Map<NodeId, number>();
  #state: State = 'new';
  #starting: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #server: Server | undefined;
  #address: NodeAddress | undefined;
  #allClosed: (() => void) | undefined;

  /** @throws `InvalidArgumentError` naming the first invalid option */
  constructor(options: TcpTransportOptions) {
    super();
    const resolved = resolveTcpOptions(options);
    this.#options = resolved;
    this.self = resolved.self;
    this.#security =
      resolved.secret !== undefined
        ? new HmacSecurity(resolved.secret)
        : new MutualTlsSecurity(resolved.tls!, resolved.handshakeTimeoutMs);
    const overhead = frameSize(ENTRY_PREFIX_BYTES, resolved.secret === undefined ? 0 : MAC_BYTES);
    this.#maxMessageBytes = resolved.maxFrameBytes - overhead;
    this.capabilities = { authenticated: true, crossProcess: true, maxFrameBytes: resolved.maxFrameBytes };
    this.#registry = new HandlerRegistry(resolved.clock);
    this.#pending = new PendingRequests(resolved.clock);
  }

  /** The address this transport listens on (with the bound port), once started. */
  get address(): NodeAddress | undefined {
    return this.#address;
  }

  /** @inheritDoc */
  start(options?: { readonly signal?: AbortSignal }): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new ClosedError('transport'));
    this.#starting ??= this.#listen(options?.signal);
    return this.#starting;
  }

  /** @inheritDoc */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** @inheritDoc */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @inheritDoc */
  handle(type: string, handler: MessageHandler): () => void {
    return this.#registry.handle(type, handler);
  }

  /** @inheritDoc */
  async send(to: NodeId, type: string, payload: JsonValue, options?: SendOptions): Promise<void> {
    checkDestination(to);
    checkMessageType(type);
    const signal = options?.signal;
    throwIfAborted(signal, `send ${type} to ${to}`);
    this.#checkOpen();
    const message = EncodedMessage.send(type, payload, this.#maxMessageBytes);
    const ready = this.#outbound.get(to)?.connection;
    const connection = ready?.open ? ready : await race(this.#connect(to), `send ${type} to ${to}`, { signal });
    if (!connection.send(message)) throw new UnreachableError(to, 'connection lost');
  }

  /** @inheritDoc */
  request(to: NodeId, type: string, payload: JsonValue, options: RequestOptions): Promise<JsonValue> {
    try {
      checkDestination(to);
      checkMessageType(type);
      const timeoutMs = checkTimeoutMs(options?.timeoutMs);
      throwIfAborted(options.signal, `request ${type} to ${to}`);
      this.#checkOpen();
      const { id, reply } = this.#pending.open({ to, type, timeoutMs, signal: options.signal });
      let message: EncodedMessage;
      try {
        message = EncodedMessage.request(id, type, payload, timeoutMs, this.#maxMessageBytes);
      } catch (err) {
        this.#pending.fail(id, err as Error);
        return reply;
      }
      const ready = this.#outbound.get(to)?.connection;
      if (ready?.open) this.#sendRequest(ready, id, message);
      else {
        this.#connect(to).then(
          (connection) => this.#sendRequest(connection, id, message),
          (err: unknown) => this.#pending.fail(id, err as Error),
        );
      }
      return reply;
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  #sendRequest(connection: Connection, id: number, message: EncodedMessage): void {
    if (!connection.send(message)) this.#pending.fail(id, new UnreachableError(connection.remote, 'connection lost'));
  }

  #checkOpen(): void {
    if (this.#state !== 'started') throw new ClosedError('transport');
  }

  async #listen(signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(signal, 'start');
    const server = this.#security.createServer({
      onSocket: (socket) => this.#accept(socket),
      onRejected: (error, remote) => this.#reject(error, remote),
    });
    this.#server = server;
    const listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.listen.port, this.#options.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    try {
      await race(listening, 'start', { signal });
    } catch (err) {
      server.close();
      this.#starting = undefined;
      throw err;
    }
    server.on('error', (err) => this.#report(wrap(err, this.self, 'listener error'), this.self));
    if (this.#state === 'closed') {
      server.close();
      throw new ClosedError('transport');
    }
    this.#address = { host: this.#options.listen.host, port: (server.address() as AddressInfo).port };
    this.#state = 'started';
    log('%s listening on %s:%d', this.self, this.#address.host, this.#address.port);
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    this.#closing.abort(new ClosedError('transport'));
    this.#pending.failAll(() => new ClosedError('transport'));
    const allClosed = new Promise<void>((resolve) => {
      this.#allClosed = resolve;
    });
    for (const connection of this.#connections) connection.close();
    if (this.#connections.size === 0) this.#allClosed?.();
    const server = this.#server;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    await allClosed;
    log('%s closed', this.self);
  }

  #accept(socket: Socket): void {
    if (this.#state === 'closed') {
      socket.destroy();
      return;
    }
    try {
      this.#track(new Connection(this.#connectionOptions(socket, undefined, this.#handlers())));
    } catch (err) {
      socket.destroy();
      this.#report(wrap(err, `${socket.remoteAddress}:${socket.remotePort}`, 'accept failed'), this.self);
    }
  }

  #connect(to: NodeId): Promise<Connection> {
    let outbound = this.#outbound.get(to);
    if (!outbound) {
      outbound = { connection: undefined, connecting: undefined, failures: 0, retryAt: 0, lastError: undefined };
      this.#outbound.set(to, outbound);
    }
    if (outbound.connection?.open) return Promise.resolve(outbound.connection);
    if (outbound.connecting) return outbound.connecting;
    const { clock, reconnect, random } = this.#options;
    if (clock.now() < outbound.retryAt) {
      return Promise.reject(
        new UnreachableError(to, `not reconnecting yet after ${outbound.failures} failed attempts`, {
          cause: outbound.lastError,
        }),
      );
    }
    const state = outbound;
    state.connecting = this.#open(to).then(
      (connection) => {
        state.connecting = undefined;
        state.connection = connection;
        state.failures = 0;
        return connection;
      },
      (err: unknown) => {
        state.connecting = undefined;
        const error =
          err instanceof ClosedError || err instanceof UnreachableError
            ? err
            : new UnreachableError(to, `connection failed: ${err instanceof Error ? err.message : String(err)}`, {
                cause: err,
              });
        if (!(error instanceof ClosedError)) {
          state.failures++;
          state.lastError = error;
          state.retryAt = clock.now() + backoffDelay(reconnect, state.failures, random);
          log('%s: connecting to %s failed (%d in a row): %s', this.self, to, state.failures, error.message);
        }
        throw error;
      },
    );
    return state.connecting;
  }

  async #open(to: NodeId): Promise<Connection> {
    const address = await this.#options.resolve(to);
    this.#checkOpen();
    if (!isAddress(address)) throw new UnreachableError(to, 'the resolver knows no valid address for this node');
    log('%s: connecting to %s at %s:%d', this.self, to, address.host, address.port);
    const socket = this.#security.connect(address, to);
    return new Promise<Connection>((resolve, reject) => {
      const handlers = this.#handlers();
      this.#track(
        new Connection(
          this.#connectionOptions(socket, to, {
            ...handlers,
            established: (connection) => {
              handlers.established(connection);
              resolve(connection);
            },
            closed: (connection, error) => {
              handlers.closed(connection, error);
              reject(error ?? new UnreachableError(to, 'the peer closed the connection during the handshake (another secret?)'));
            },
          }),
        ),
      );
    });
  }

  #connectionOptions(
    socket: Socket,
    expectedPeer: NodeId | undefined,
    handlers: ConnectionHandlers,
  ): ConnectionOptions {
    const { self, secret, maxFrameBytes, handshakeTimeoutMs, idleTimeoutMs, clock } = this.#options;
    const acceptPeer = this.#security.peerCheck(socket);
    return {
      socket,
      self,
      secret,
      maxFrameBytes,
      handshakeTimeoutMs,
      idleTimeoutMs,
      clock,
      handlers,
      ...(expectedPeer === undefined ? {} : { expectedPeer }),
      ...(acceptPeer === undefined ? {} : { acceptPeer }),
    };
  }

  #track(connection: Connection): void {
    this.#connections.add(connection);
    if (this.#state === 'closed') connection.close();
  }

  #handlers(): ConnectionHandlers {
    return {
      established: (connection) => this.#onEstablished(connection),
      message: (connection, bytes, start, end, receivedAt) => this.#onMessage(connection, bytes, start, end, receivedAt),
      rejected: (connection, error) => this.#reject(error, connection.peer ?? connection.remote),
      closed: (connection, error) => this.#onClosed(connection, error),
    };
  }

  #onEstablished(connection: Connection): void {
    const peer = connection.peer!;
    const count = (this.#connectedPeers.get(peer) ?? 0) + 1;
    this.#connectedPeers.set(peer, count);
    log('%s: connection with %s (%s) established', this.self, peer, connection.remote);
    if (count === 1) this.#emit('peerConnected', peer);
  }

  #onClosed(connection: Connection, error: Error | undefined): void {
    this.#connections.delete(connection);
    const peer = connection.peer;
    if (peer !== undefined) {
      const outbound = this.#outbound.get(peer);
      if (outbound?.connection === connection) {
        // Requests to `peer` travel on this connection only: their replies cannot come any more.
        outbound.connection = undefined;
        this.#pending.failAll(() => new UnreachableError(peer, 'connection lost before the reply', { cause: error }), peer);
      }
      const count = (this.#connectedPeers.get(peer) ?? 1) - 1;
      if (count > 0) this.#connectedPeers.set(peer, count);
      else {
        this.#connectedPeers.delete(peer);
        this.#emit('peerDisconnected', peer);
      }
      log('%s: connection with %s (%s) closed%s', this.self, peer, connection.remote, error ? `: ${error.message}` : '');
      if (error !== undefined && !(error instanceof ProtocolError) && this.#state !== 'closed') {
        this.#report(wrap(error, peer, 'connection lost'), peer);
      }
    } else if (!connection.initiator && error !== undefined && !(error instanceof ProtocolError) && this.#state !== 'closed') {
      // A failed outbound attempt reaches its caller; a failed inbound handshake only this report.
      this.#report(wrap(error, connection.remote, 'inbound handshake failed'), connection.remote);
    }
    if (this.#connections.size === 0) this.#allClosed?.();
  }

  #onMessage(connection: Connection, bytes: Buffer, start: number, end: number, receivedAt: number): void {
    let message: WireMessage;
    try {
      message = decodeMessage(bytes, start, end, connection.peer!, this.self);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.#reject(err, connection.peer ?? connection.remote);
      connection.close(err);
      return;
    }
    switch (message.kind) {
      case 'send': {
        const outcome = this.#registry.dispatch(
          { type: message.type, from: message.from, payload: message.payload, expectsReply: false },
          { signal: this.#closing.signal },
        );
        if (outcome instanceof Promise) void outcome.then((settled) => this.#oneWayDone(message.type, settled));
        else this.#oneWayDone(message.type, outcome);
        return;
      }
      case 'request':
        this.#answer(connection, message, receivedAt);
        return;
      case 'reply':
      case 'error':
        if (!this.#pending.settle(message)) log('%s: ignored a late or unknown reply %d', this.self, message.id);
    }
  }

  #oneWayDone(type: string, outcome: HandlerOutcome): void {
    if (!outcome.ok) log('%s: handler of %s failed: %s', this.self, type, outcome.failure.message);
  }

  #answer(connection: Connection, request: WireRequest, receivedAt: number): void {
    const outcome = this.#registry.dispatch(
      { type: request.type, from: request.from, payload: request.payload, expectsReply: true },
      { signal: this.#closing.signal, timeoutMs: request.timeoutMs, receivedAt },
    );
    // A synchronous handler's reply joins the batch of this tick (see `Connection.send`).
    if (outcome instanceof Promise) void outcome.then((settled) => this.#reply(connection, request, settled));
    else this.#reply(connection, request, outcome);
  }

  #reply(connection: Connection, request: WireRequest, outcome: HandlerOutcome): void {
    try {
      if (!connection.send(EncodedMessage.reply(request.id, outcome, this.#maxMessageBytes))) {
        log('%s: reply %d to %s dropped: connection closed', this.self, request.id, request.from);
      }
    } catch (err) {
      this.#report(wrap(err, request.from, 'reply failed'), request.from);
    }
  }

  #reject(error: ProtocolError, peer: string): void {
    log('%s: rejected a frame from %s: %s', this.self, peer, error.message);
    this.#emit('frameRejected', error, peer);
    this.#report(error, peer);
  }

  #report(error: NonstopError, peer: string): void {
    try {
      this.#options.onError?.(error, peer);
    } catch (err) {
      log('%s: onError threw: %O', this.self, err);
    }
  }

  /** Emits without letting a throwing listener unwind into socket callbacks. */
  #emit<K extends keyof TransportEvents>(event: K, ...args: TransportEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: TransportEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      log('%s: a %s listener threw: %O', this.self, event, err);
    }
  }
}

function isAddress(value: unknown): value is NodeAddress {
  if (typeof value !== 'object' || value === null) return false;
  const { host, port } = value as Partial<NodeAddress>;
  return typeof host === 'string' && host.length > 0 && Number.isInteger(port) && port! > 0 && port! <= 65_535;
}

function wrap(err: unknown, node: string, what: string): NonstopError {
  if (err instanceof NonstopError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new UnreachableError(node, `${what}: ${message}`, { cause: err });
}
