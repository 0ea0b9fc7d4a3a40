/**
 * The private connection between a {@link MemoryNetwork} and its {@link MemoryTransport}s: what
 * each side may call on the other, kept out of both classes' public API.
 *
 * @module
 */
import type { Clock } from '../../core/clock.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { NodeId } from '../../core/ids.js';
import type { MemoryNetwork } from './memory-network.js';
import type { MemoryTransport } from './memory-transport.js';

/** The receiving side of a started transport, as the network sees it. */
export interface Endpoint {
  /** The node the transport serves. */
  readonly node: NodeId;
  /** Hands over a frame that arrived over the link from `from`. */
  deliver(from: NodeId, frame: string): void;
  /** Another node's transport started on the network. */
  peerUp(node: NodeId): void;
  /** Another node's transport stopped (closed or killed). */
  peerDown(node: NodeId): void;
  /** The network killed this node: stop at once. */
  kill(): void;
}

/** The network, as a transport sees it. */
export interface NetworkPort {
  /** The network's clock. */
  readonly clock: Clock;
  /**
   * Connects a started transport.
   *
   * @throws An {@link InvalidArgumentError} if another transport of the same node is running
   */
  attach(endpoint: Endpoint): void;
  /** Disconnects a transport that stopped. */
  detach(endpoint: Endpoint): void;
  /**
   * Hands a frame to the link from `from` to `to`.
   *
   * @throws `UnreachableError` if no transport of `to` is running
   */
  transmit(from: Endpoint, to: NodeId, frame: string): void;
}

const ports = new WeakMap<object, NetworkPort>();

/** Called by the network's constructor. */
export function registerPort(network: MemoryNetwork, port: NetworkPort): void {
  ports.set(network, port);
}

/**
 * The port of `network`.
 *
 * @throws An {@link InvalidArgumentError} naming `network` if it is not a {@link MemoryNetwork}
 */
export function portOf(network: MemoryNetwork): NetworkPort {
  const port = typeof network === 'object' && network !== null ? ports.get(network) : undefined;
  if (!port) throw new InvalidArgumentError('network', 'must be a MemoryNetwork');
  return port;
}
