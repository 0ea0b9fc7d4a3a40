/**
 * A simulated network for in-process clusters, with fault switches.
 *
 * @module
 */
import type { Clock } from '../../core/clock.js';
import { InvalidArgumentError, UnreachableError } from '../../core/errors.js';
import { describe, nodeId, type NodeId } from '../../core/ids.js';
import { logger } from '../../core/log.js';
import { seededRandom, type Random } from '../../core/random.js';
import { PERFECT_LINK, resolveLink, type LinkOptions, type ResolvedLink } from './link-options.js';
import { MemoryTransport, type MemoryTransportOptions } from './memory-transport.js';
import { registerPort, type Endpoint } from './network-port.js';

const log = logger('transport').extend('memory');

/** Options of {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** Schedules every delivery; with a `SimulatedClock` the network is deterministic. */
  readonly clock: Clock;
  /** Seeds the generator behind delays, loss and duplication (a safe integer). */
  readonly seed: number;
  /** Settings of every link that has no settings of its own. Default: no delay, loss or duplication. */
  readonly defaultLink?: LinkOptions;
}

/** Message counters of one node, kept across kills and restarts of its transport. */
export interface NodeStats {
  /** Messages the node handed to the network (requests, replies and one-way messages). */
  readonly sent: number;
  /** Messages handed to the node's transport, duplicates included. */
  readonly delivered: number;
  /**
   * Messages the node sent that were lost: by a loss draw, a partition, or because the
   * destination stopped before they arrived.
   */
  readonly dropped: number;
}

/** Options of {@link MemoryNetwork.partition}. */
export interface PartitionOptions {
  /** Cut only the direction `a` → `b`. Default `false`: both directions. */
  readonly oneWay?: boolean;
}

interface Counters {
  sent: number;
  delivered: number;
  dropped: number;
}

/** A message held by a paused node. */
interface Held {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly frame: string;
}

/** What a paused node holds: frames that reached it, and frames it sent. */
interface PauseBuffers {
  readonly inbox: Held[];
  readonly outbox: Held[];
}

/**
 * An in-process network of {@link MemoryTransport}s, deterministic for a seed: with a
 * `SimulatedClock`, the same seed and the same sequence of calls give the same deliveries in the
 * same order.
 *
 * Every message is encoded to JSON text by the sender and parsed by the receiver, so the two never
 * share objects and size limits behave as on TCP. Each message is delivered after the delay of its
 * link, drawn from the seeded generator, by a timer on the clock. Fault switches:
 *
 * - {@link MemoryNetwork.setLink}: delay range, loss and duplication per directed link;
 * - {@link MemoryNetwork.partition} / {@link MemoryNetwork.heal} / {@link MemoryNetwork.healAll}:
 *   a message is silently lost if its link is cut when it is sent or when it arrives, so requests
 *   across a cut link time out;
 * - {@link MemoryNetwork.pause} / {@link MemoryNetwork.resume}: like `SIGSTOP`: the node's
 *   handlers see nothing while paused, frames that reach it are buffered (as by the kernel) and
 *   handed over in arrival order on resume, even if their senders have given up; frames it sends
 *   while paused leave on resume;
 * - {@link MemoryNetwork.kill}: like `SIGKILL`: the node's transport closes, frames on the way to
 *   it are lost, and requests to it fail with `UnreachableError` (as after a connection reset),
 *   now and until a new transport of the node starts.
 *
 * ```ts
 * const clock = new SimulatedClock();
 * const network = new MemoryNetwork({ clock, seed: 42, defaultLink: { delayMs: [1, 5] } });
 * const a = network.transport('a');
 * const b = network.transport('b');
 * await Promise.all([a.start(), b.start()]);
 * b.handle('demo.echo', (message) => message.payload);
 * const reply = a.request(b.self, 'demo.echo', { hello: 'world' }, { timeoutMs: 100 });
 * await clock.advance(10);
 * console.log(await reply); // { hello: 'world' }
 * ```
 */
export class MemoryNetwork {
  /** The clock that schedules deliveries (and measures the transports' time limits). */
  readonly clock: Clock;
  readonly #random: Random;
  readonly #defaultLink: ResolvedLink;
  readonly #links = new Map<string, ResolvedLink>();
  readonly #cut = new Set<string>();
  readonly #live = new Map<NodeId, Endpoint>();
  readonly #paused = new Map<NodeId, PauseBuffers>();
  readonly #counters = new Map<NodeId, Counters>();

  /** @throws An {@link InvalidArgumentError} naming the invalid option */
  constructor(options: MemoryNetworkOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', `must be an object (got ${describe(options)})`);
    }
    const { clock, seed, defaultLink } = options;
    if (typeof clock !== 'object' || clock === null || typeof clock.setTimeout !== 'function') {
      throw new InvalidArgumentError('clock', 'must be a Clock');
    }
    if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError('seed', `must be a safe integer (got ${describe(seed)})`);
    this.clock = clock;
    this.#random = seededRandom(seed);
    this.#defaultLink = resolveLink(defaultLink, PERFECT_LINK, 'defaultLink');
    registerPort(this, {
      clock,
      attach: (endpoint) => this.#attach(endpoint),
      detach: (endpoint) => this.#detach(endpoint),
      transmit: (from, to, frame) => this.#transmit(from.node, to, frame),
    });
  }

  /**
   * Creates the transport of `node` on this network (not started). After the node's previous
   * transport closed or was killed, a new one may be created and started.
   *
   * @throws An {@link InvalidArgumentError} naming `node` or an invalid option
   */
  transport(node: string, options?: MemoryTransportOptions): MemoryTransport {
    return new MemoryTransport(this, node, options);
  }

  /**
   * Sets the behaviour of the directed link `from` → `to`; fields left out are taken from the
   * network's `defaultLink`. Applies to messages sent from now on.
   *
   * @throws An {@link InvalidArgumentError} naming `from`, `to` or the invalid field
   */
  setLink(from: string, to: string, options: LinkOptions): void {
    const key = linkKey(nodeId(from, 'from'), nodeId(to, 'to'));
    this.#links.set(key, resolveLink(options, this.#defaultLink, 'options'));
  }

  /**
   * Cuts the link between `a` and `b` (both directions unless `oneWay`). A message is lost,
   * without an error, if its link is cut when it is sent or when it arrives.
   *
   * @throws An {@link InvalidArgumentError} naming `a` or `b`
   */
  partition(a: string, b: string, options?: PartitionOptions): void {
    const from = nodeId(a, 'a');
    const to = nodeId(b, 'b');
    this.#cut.add(linkKey(from, to));
    if (options?.oneWay !== true) this.#cut.add(linkKey(to, from));
  }

  /**
   * Restores both directions of the link between `a` and `b`.
   *
   * @throws An {@link InvalidArgumentError} naming `a` or `b`
   */
  heal(a: string, b: string): void {
    const from = nodeId(a, 'a');
    const to = nodeId(b, 'b');
    this.#cut.delete(linkKey(from, to));
    this.#cut.delete(linkKey(to, from));
  }

  /** Restores every cut link. */
  healAll(): void {
    this.#cut.clear();
  }

  /**
   * Freezes `node` as `SIGSTOP` would: nothing reaches its handlers, frames that reach it and
   * frames it sends are held until {@link MemoryNetwork.resume}. The node's own timers still run
   * (the clock is shared), so its requests may time out meanwhile. Pausing twice does nothing; a
   * kill or close of the node's transport ends the pause and discards what was held.
   *
   * @throws An {@link InvalidArgumentError} naming `node`
   */
  pause(node: string): void {
    const id = nodeId(node, 'node');
    if (!this.#paused.has(id)) this.#paused.set(id, { inbox: [], outbox: [] });
  }

  /**
   * Ends the pause of `node`, like `SIGCONT`: hands over the held frames that reached it, in
   * arrival order, then sends the frames it sent while paused. Does nothing if it is not paused.
   *
   * @throws An {@link InvalidArgumentError} naming `node`
   */
  resume(node: string): void {
    const id = nodeId(node, 'node');
    const held = this.#paused.get(id);
    if (!held) return;
    this.#paused.delete(id);
    for (const { from, to, frame } of held.inbox) this.#land(from, to, frame);
    for (const { from, to, frame } of held.outbox) this.#route(from, to, frame);
  }

  /**
   * Kills `node` as `SIGKILL` would: its transport closes at once (its pending requests reject
   * with `ClosedError`), frames on their way to it are lost, and other nodes' pending and later
   * requests to it reject with `UnreachableError`. Frames it sent before dying still arrive. Does
   * nothing if no transport of `node` is running.
   *
   * @throws An {@link InvalidArgumentError} naming `node`
   */
  kill(node: string): void {
    this.#live.get(nodeId(node, 'node'))?.kill();
  }

  /**
   * Hands the raw `frame` text to the transport of `to` at once, as if it came over the link from
   * `from`, bypassing link settings, pauses and counters: for testing how transports treat
   * malformed, oversized or spoofed frames.
   *
   * @throws An {@link InvalidArgumentError} naming `from` or `to`
   * @throws An {@link UnreachableError} if no transport of `to` is running
   */
  injectFrame(from: string, to: string, frame: string): void {
    const source = nodeId(from, 'from');
    const endpoint = this.#live.get(nodeId(to, 'to'));
    if (!endpoint) throw new UnreachableError(to, 'no transport of this node is running');
    endpoint.deliver(source, frame);
  }

  /**
   * The message counters of `node` so far (a snapshot; zeros for a node never seen). For rates,
   * subtract two snapshots.
   *
   * @throws An {@link InvalidArgumentError} naming `node`
   */
  stats(node: string): NodeStats {
    const counters = this.#counters.get(nodeId(node, 'node'));
    return counters ? { ...counters } : { sent: 0, delivered: 0, dropped: 0 };
  }

  #attach(endpoint: Endpoint): void {
    if (this.#live.has(endpoint.node)) {
      throw new InvalidArgumentError('node', `a transport of ${endpoint.node} is already running on this network`);
    }
    const peers = [...this.#live.values()];
    this.#live.set(endpoint.node, endpoint);
    for (const peer of peers) {
      peer.peerUp(endpoint.node);
      endpoint.peerUp(peer.node);
    }
  }

  #detach(endpoint: Endpoint): void {
    if (this.#live.get(endpoint.node) !== endpoint) return;
    this.#live.delete(endpoint.node);
    const held = this.#paused.get(endpoint.node);
    this.#paused.delete(endpoint.node);
    for (const { from } of held?.inbox ?? []) this.#drop(from, endpoint.node, 'receiver stopped while paused');
    for (const { to } of held?.outbox ?? []) this.#drop(endpoint.node, to, 'sender stopped while paused');
    for (const peer of this.#live.values()) peer.peerDown(endpoint.node);
  }

  #transmit(from: NodeId, to: NodeId, frame: string): void {
    if (!this.#live.has(to)) throw new UnreachableError(to, 'no transport of this node is running');
    this.#countersOf(from).sent++;
    const outbox = this.#paused.get(from)?.outbox;
    if (outbox) outbox.push({ from, to, frame });
    else this.#route(from, to, frame);
  }

  /** Applies the link's settings and schedules the delivery of each copy. */
  #route(from: NodeId, to: NodeId, frame: string): void {
    const destination = this.#live.get(to);
    if (!destination) return this.#drop(from, to, 'receiver stopped');
    const key = linkKey(from, to);
    if (this.#cut.has(key)) return this.#drop(from, to, 'partitioned');
    const link = this.#links.get(key) ?? this.#defaultLink;
    if (this.#random.next() < link.lossProbability) return this.#drop(from, to, 'lost');
    const copies = this.#random.next() < link.duplicateProbability ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = link.minDelayMs + this.#random.next() * (link.maxDelayMs - link.minDelayMs);
      this.clock.setTimeout(() => this.#arrive(from, destination, frame), delay);
    }
  }

  /** A frame reaches the end of its link. */
  #arrive(from: NodeId, destination: Endpoint, frame: string): void {
    const to = destination.node;
    // A frame sent to a transport that has stopped since is lost, even if a new one runs now.
    if (this.#live.get(to) !== destination) return this.#drop(from, to, 'receiver stopped');
    if (this.#cut.has(linkKey(from, to))) return this.#drop(from, to, 'partitioned in flight');
    this.#land(from, to, frame);
  }

  /** Hands a frame that reached `to` to its transport, or to its pause buffer. */
  #land(from: NodeId, to: NodeId, frame: string): void {
    const inbox = this.#paused.get(to)?.inbox;
    if (inbox) {
      inbox.push({ from, to, frame });
      return;
    }
    const destination = this.#live.get(to);
    if (!destination) return this.#drop(from, to, 'receiver stopped');
    this.#countersOf(to).delivered++;
    destination.deliver(from, frame);
  }

  #drop(from: NodeId, to: NodeId, reason: string): void {
    this.#countersOf(from).dropped++;
    log('dropped %s → %s: %s', from, to, reason);
  }

  #countersOf(node: NodeId): Counters {
    let counters = this.#counters.get(node);
    if (!counters) {
      counters = { sent: 0, delivered: 0, dropped: 0 };
      this.#counters.set(node, counters);
    }
    return counters;
  }
}

/** The key of the directed link `from` → `to` (`>` cannot occur in a node id). */
function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}
