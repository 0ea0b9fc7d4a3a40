/**
 * Options of the TCP transport and their validation.
 *
 * @module
 */
import { systemClock, type Clock } from '../../core/clock.js';
import { InvalidArgumentError, type NonstopError } from '../../core/errors.js';
import { describe, nodeId, type NodeId } from '../../core/ids.js';
import { defaultRandom, type Random } from '../../core/random.js';
import type { AddressResolver, NodeAddress } from '../../contracts/transport.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../shared/wire-message.js';
import { DEFAULT_BACKOFF, type BackoffOptions, type ResolvedBackoff } from './backoff.js';
import type { TcpTlsOptions } from './link-security.js';

/** Options of {@link TcpTransport}. Exactly one of `secret` and `tls` is required. */
export interface TcpTransportOptions {
  /** This node's logical name. */
  readonly self: NodeId;
  /** Where to listen. Port 0 picks a free port; read the bound one from `TcpTransport.address`. */
  readonly listen: NodeAddress;
  /** Finds a peer's host name and port; called at every connection attempt, never cached. */
  readonly resolve: AddressResolver;
  /** The cluster's shared secret (at least 32 bytes) for HMAC-SHA256 frame authentication. */
  readonly secret?: string | Uint8Array;
  /** Mutual TLS instead of a shared secret: each certificate names its node id (CN or DNS SAN). */
  readonly tls?: TcpTlsOptions;
  /** The largest frame, in bytes, sent or accepted (default 1 MiB, at least 1 KiB, at most 1 GiB). */
  readonly maxFrameBytes?: number;
  /** Time limit, on `clock`, for connecting and completing the handshake (default 5 000 ms). */
  readonly handshakeTimeoutMs?: number;
  /** A connection without any frame in either direction for this long is closed (default 300 000 ms; 0: never). */
  readonly idleTimeoutMs?: number;
  /** Reconnect backoff after failed connection attempts. */
  readonly reconnect?: BackoffOptions;
  /** The clock of every timer: request timeouts, handshake timeout, backoff, idle (default: system clock). */
  readonly clock?: Clock;
  /** Randomness for backoff jitter (default `Math.random`). Nonces always come from `crypto`. */
  readonly random?: Random;
  /**
   * Called with every error the transport handles internally and cannot report through a promise:
   * rejected frames (also emitted as `frameRejected`), failed handshakes, socket errors, replies
   * that could not be sent. `peer` is the node id when known, else the remote address.
   */
  readonly onError?: (error: NonstopError, peer: string) => void;
}

/** {@link TcpTransportOptions} validated, with defaults filled in. */
export interface ResolvedTcpOptions {
  /** See {@link TcpTransportOptions.self}. */
  readonly self: NodeId;
  /** See {@link TcpTransportOptions.listen}. */
  readonly listen: NodeAddress;
  /** See {@link TcpTransportOptions.resolve}. */
  readonly resolve: AddressResolver;
  /** The secret as bytes, or `undefined` under TLS. */
  readonly secret: Buffer | undefined;
  /** See {@link TcpTransportOptions.tls}. */
  readonly tls: TcpTlsOptions | undefined;
  /** See {@link TcpTransportOptions.maxFrameBytes}. */
  readonly maxFrameBytes: number;
  /** See {@link TcpTransportOptions.handshakeTimeoutMs}. */
  readonly handshakeTimeoutMs: number;
  /** See {@link TcpTransportOptions.idleTimeoutMs}. */
  readonly idleTimeoutMs: number;
  /** See {@link TcpTransportOptions.reconnect}. */
  readonly reconnect: ResolvedBackoff;
  /** See {@link TcpTransportOptions.clock}. */
  readonly clock: Clock;
  /** See {@link TcpTransportOptions.random}. */
  readonly random: Random;
  /** See {@link TcpTransportOptions.onError}. */
  readonly onError: ((error: NonstopError, peer: string) => void) | undefined;
}

/** The smallest accepted cluster secret, in bytes. */
export const MIN_SECRET_BYTES = 32;

/**
 * Validates the options of {@link TcpTransport}.
 *
 * @throws {@link InvalidArgumentError} naming the first invalid option
 */
export function resolveTcpOptions(options: TcpTransportOptions): ResolvedTcpOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `must be an object (got ${describe(options)})`);
  }
  const self = nodeId(options.self, 'self');
  const listen = address(options.listen, 'listen');
  if (typeof options.resolve !== 'function') {
    throw new InvalidArgumentError('resolve', `must be a function (got ${describe(options.resolve)})`);
  }
  if ((options.secret === undefined) === (options.tls === undefined)) {
    throw new InvalidArgumentError('secret', 'exactly one of secret and tls is required');
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock.setTimeout !== 'function' || typeof clock.now !== 'function') {
    throw new InvalidArgumentError('clock', 'must implement Clock');
  }
  const random = options.random ?? defaultRandom;
  if (typeof random.next !== 'function') throw new InvalidArgumentError('random', 'must implement Random');
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new InvalidArgumentError('onError', `must be a function (got ${describe(options.onError)})`);
  }
  return {
    self,
    listen,
    resolve: options.resolve,
    secret: options.secret === undefined ? undefined : secretBytes(options.secret),
    tls: options.tls === undefined ? undefined : tlsOptions(options.tls),
    maxFrameBytes: integer(options.maxFrameBytes, 'maxFrameBytes', DEFAULT_MAX_FRAME_BYTES, 1024, 1024 ** 3),
    handshakeTimeoutMs: integer(options.handshakeTimeoutMs, 'handshakeTimeoutMs', 5_000, 1, 2_147_483_647),
    idleTimeoutMs: integer(options.idleTimeoutMs, 'idleTimeoutMs', 300_000, 0, 2_147_483_647),
    reconnect: backoff(options.reconnect ?? {}),
    clock,
    random,
    onError: options.onError,
  };
}

function address(value: NodeAddress | undefined, option: string): NodeAddress {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidArgumentError(option, `must be { host, port } (got ${describe(value)})`);
  }
  if (typeof value.host !== 'string' || value.host.length === 0 || value.host.length > 253) {
    throw new InvalidArgumentError(`${option}.host`, `must be a non-empty host name (got ${describe(value.host)})`);
  }
  const port = integer(value.port, `${option}.port`, undefined, 0, 65_535);
  return { host: value.host, port };
}

function secretBytes(secret: string | Uint8Array): Buffer {
  let bytes: Buffer;
  if (typeof secret === 'string') bytes = Buffer.from(secret, 'utf8');
  else if (secret instanceof Uint8Array) bytes = Buffer.from(secret);
  else throw new InvalidArgumentError('secret', `must be a string or bytes (got ${describe(secret)})`);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new InvalidArgumentError('secret', `must be at least ${MIN_SECRET_BYTES} bytes (got ${bytes.length})`);
  }
  return bytes;
}

function tlsOptions(tls: TcpTlsOptions): TcpTlsOptions {
  if (typeof tls !== 'object' || tls === null) {
    throw new InvalidArgumentError('tls', `must be { key, cert, ca } (got ${describe(tls)})`);
  }
  for (const name of ['key', 'cert', 'ca'] as const) {
    const value = tls[name];
    const parts = Array.isArray(value) ? value : [value];
    const ok =
      parts.length > 0 && parts.every((p: unknown) => (typeof p === 'string' || Buffer.isBuffer(p)) && p.length > 0);
    if (!ok) throw new InvalidArgumentError(`tls.${name}`, 'must be PEM text or a Buffer');
  }
  return tls;
}

function backoff(options: BackoffOptions): ResolvedBackoff {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('reconnect', `must be an object (got ${describe(options)})`);
  }
  const resolved: ResolvedBackoff = {
    initialDelayMs: finite(options.initialDelayMs, 'reconnect.initialDelayMs', DEFAULT_BACKOFF.initialDelayMs, 0),
    maxDelayMs: finite(options.maxDelayMs, 'reconnect.maxDelayMs', DEFAULT_BACKOFF.maxDelayMs, 0),
    multiplier: finite(options.multiplier, 'reconnect.multiplier', DEFAULT_BACKOFF.multiplier, 1),
    jitter: finite(options.jitter, 'reconnect.jitter', DEFAULT_BACKOFF.jitter, 0, 1),
  };
  if (resolved.maxDelayMs < resolved.initialDelayMs) {
    throw new InvalidArgumentError('reconnect.maxDelayMs', 'must not be below reconnect.initialDelayMs');
  }
  return resolved;
}

function integer(value: unknown, option: string, fallback: number | undefined, min: number, max: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(option, `must be an integer in [${min}, ${max}] (got ${describe(value)})`);
  }
  return value;
}

function finite(value: unknown, option: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidArgumentError(option, `must be a number in [${min}, ${max}] (got ${describe(value)})`);
  }
  return value;
}
