/**
 * Writing your own Transport: a decorator that counts messages per type, and its proof.
 *
 * `CountingTransport` wraps any Transport (here the MemoryTransport of a simulated network) and
 * counts the messages it sends and handles, per message type — the kind of thing you would feed to
 * your metrics. It implements the whole `Transport` contract by delegating, so everything that
 * takes a Transport (TxManager, ResourceHost, a ring monitor …) accepts it.
 *
 * Part 1 uses it on a three-node MemoryNetwork with a simulated clock: a lossy link, a one-way
 * partition, and the network's own per-node counters. Part 2 runs the `transportConformance`
 * suite against it under Node's built-in test runner (`node:test`): every case runs on simulated
 * time, so the whole suite takes a second or two; a failing case makes the script exit non-zero.
 *
 * Run: npx tsx examples/custom-transport.ts   (after npm run build)
 */
import { describe, it } from 'node:test';
import { EventEmitter } from 'nonstop'; // the event emitter the contracts extend
import type {
  HandlerContext,
  IncomingMessage,
  JsonValue,
  MessageHandler,
  NodeId,
  RequestOptions,
  SendOptions,
  Transport,
  TransportCapabilities,
  TransportEvents,
} from 'nonstop';
import {
  MemoryNetwork,
  SimulatedClock,
  transportConformance,
  type ConformanceRunner,
  type TransportConformanceOptions,
  type TransportFactory,
  type TransportHarness,
} from 'nonstop/testing';
import type { LinkOptions, MemoryNetworkOptions, MemoryTransportOptions, NodeStats, PartitionOptions } from 'nonstop/transport/memory';

/** Messages of one type, as one node saw them. */
interface TypeCounts {
  sent: number;
  requested: number;
  handled: number;
  failed: number;
}

/** A Transport that delegates to another one and counts what passes through, per message type. */
class CountingTransport extends EventEmitter<TransportEvents> implements Transport {
  readonly #inner: Transport;
  readonly counts = new Map<string, TypeCounts>();

  constructor(inner: Transport) {
    super();
    this.#inner = inner;
    // Re-emit the inner transport's events, so listeners of the decorator hear them.
    inner.on('frameRejected', (error, peer) => this.emit('frameRejected', error, peer));
    inner.on('peerConnected', (node) => this.emit('peerConnected', node));
    inner.on('peerDisconnected', (node) => this.emit('peerDisconnected', node));
  }

  get self(): NodeId {
    return this.#inner.self;
  }

  get capabilities(): TransportCapabilities {
    return this.#inner.capabilities;
  }

  start(options?: { readonly signal?: AbortSignal }): Promise<void> {
    return this.#inner.start(options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async send(to: NodeId, type: string, payload: JsonValue, options?: SendOptions): Promise<void> {
    this.#count(type).sent++;
    return this.#inner.send(to, type, payload, options);
  }

  async request(to: NodeId, type: string, payload: JsonValue, options: RequestOptions): Promise<JsonValue> {
    this.#count(type).requested++;
    return this.#inner.request(to, type, payload, options);
  }

  handle(type: string, handler: MessageHandler): () => void {
    // The inner transport validates `type` (and throws InvalidArgumentError), so the decorator
    // needs no validation of its own. The handler's result or error is passed on unchanged.
    return this.#inner.handle(type, async (message: IncomingMessage, context: HandlerContext) => {
      const counts = this.#count(message.type);
      counts.handled++;
      try {
        return await handler(message, context);
      } catch (err) {
        counts.failed++;
        throw err; // reaches the requester as RemoteError with the error's code
      }
    });
  }

  #count(type: string): TypeCounts {
    let counts = this.counts.get(type);
    if (!counts) this.counts.set(type, (counts = { sent: 0, requested: 0, handled: 0, failed: 0 }));
    return counts;
  }
}

// ---------------------------------------------------------------- part 1: in use

const clock = new SimulatedClock();
const networkOptions: MemoryNetworkOptions = { clock, seed: 7, defaultLink: { delayMs: [1, 5] } };
const network = new MemoryNetwork(networkOptions);
const [alpha, beta, gamma] = ['alpha', 'beta', 'gamma'].map((name) => new CountingTransport(network.transport(name))) as [
  CountingTransport,
  CountingTransport,
  CountingTransport,
];
for (const node of [alpha, beta, gamma]) {
  await node.start();
  node.handle('demo.echo', (message) => message.payload);
  node.handle('demo.note', () => undefined);
}

/** Sends requests and one-way notes from `from` to `to`, and lets simulated time run. */
async function exchange(from: CountingTransport, to: CountingTransport, n: number): Promise<string> {
  const replies = Array.from({ length: n }, (_, i) =>
    from.request(to.self, 'demo.echo', { i }, { timeoutMs: 50 }).then(
      () => 'ok',
      (err: Error) => err.name,
    ),
  );
  for (let i = 0; i < n; i++) await from.send(to.self, 'demo.note', { i });
  await clock.advance(100);
  const outcomes = await Promise.all(replies);
  return `${outcomes.filter((o) => o === 'ok').length}/${n} answered (${[...new Set(outcomes.filter((o) => o !== 'ok'))].join(', ') || 'no errors'})`;
}

console.log(`alpha → beta, perfect link:   ${await exchange(alpha, beta, 10)}`);
const lossy: LinkOptions = { lossProbability: 0.3 };
network.setLink('alpha', 'gamma', lossy);
console.log(`alpha → gamma, 30 % loss:   ${await exchange(alpha, gamma, 10)}`);
const oneWay: PartitionOptions = { oneWay: true };
network.partition('beta', 'alpha', oneWay); // only beta → alpha is cut
console.log(`beta → alpha, cut:           ${await exchange(beta, alpha, 5)}`);
// alpha's messages still reach beta (see beta's handled counts below), but the replies are cut:
// to a requester, a one-way partition looks the same as a two-way one.
console.log(`alpha → beta, replies cut:   ${await exchange(alpha, beta, 5)}`);

for (const node of [alpha, beta, gamma]) {
  const perType = [...node.counts].map(([type, c]) => `${type} sent ${c.sent} requested ${c.requested} handled ${c.handled}`).join('; ');
  const stats: NodeStats = network.stats(node.self); // the network's view, replies included
  console.log(`${node.self}: ${perType} | network: sent ${stats.sent}, delivered ${stats.delivered}, dropped ${stats.dropped}`);
}
await Promise.all([alpha, beta, gamma].map((node) => node.close()));

// ---------------------------------------------------------------- part 2: the proof

// node:test's `it` takes (name, options, fn); the suite calls it(name, body, timeoutMs).
const runner: ConformanceRunner = {
  describe: (name, body) => void describe(name, body),
  it: (name, body, timeoutMs) => void it(name, timeoutMs === undefined ? {} : { timeout: timeoutMs }, async () => body()),
};

/** A fresh simulated network per test, with a CountingTransport around each node's transport. */
const factory: TransportFactory = async (nodes: readonly NodeId[]): Promise<TransportHarness> => {
  const clock = new SimulatedClock();
  // Random delays reorder messages, so concurrent replies come back out of order.
  const network = new MemoryNetwork({ clock, seed: 1, defaultLink: { delayMs: [0.5, 5] } });
  // A smaller frame limit than the default 1 MiB keeps the suite's frame-size cases quick.
  const frames: MemoryTransportOptions = { maxFrameBytes: 64 * 1024 };
  const transports = nodes.map((node) => new CountingTransport(network.transport(node, frames)));
  await Promise.all(transports.map((t) => t.start()));
  return {
    transports,
    clock, // time limits are measured on it …
    advance: (ms) => clock.advance(ms), // … and the suite moves it forward while it waits
    cleanup: async () => void (await Promise.all(transports.map((t) => t.close()))),
  };
};
const options: TransportConformanceOptions = {
  name: 'CountingTransport over MemoryTransport',
  // MemoryTransport does not authenticate frames; an adapter that does sets `authentication: true`
  // and returns `createImpostor` from its harness.
  authentication: false,
};
transportConformance(runner, factory, options);
