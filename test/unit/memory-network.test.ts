import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import {
  ClosedError,
  InvalidArgumentError,
  ProtocolError,
  TimeoutError,
  UnreachableError,
} from '../../src/core/errors.js';
import { nodeId, type NodeId } from '../../src/core/ids.js';
import type { JsonValue } from '../../src/core/json.js';
import type { LinkOptions } from '../../src/transport/memory/index.js';
import { MemoryNetwork, MemoryTransport } from '../../src/transport/memory/index.js';
import { SimulatedClock } from '../../src/testing/index.js';

const A = nodeId('a');
const B = nodeId('b');
const C = nodeId('c');

interface Cluster {
  readonly clock: SimulatedClock;
  readonly network: MemoryNetwork;
  readonly a: MemoryTransport;
  readonly b: MemoryTransport;
  readonly c: MemoryTransport;
}

async function cluster(options: { seed?: number; defaultLink?: LinkOptions } = {}): Promise<Cluster> {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({
    clock,
    seed: options.seed ?? 1,
    ...(options.defaultLink ? { defaultLink: options.defaultLink } : {}),
  });
  const [a, b, c] = [A, B, C].map((node) => network.transport(node)) as [MemoryTransport, MemoryTransport, MemoryTransport];
  await Promise.all([a.start(), b.start(), c.start()]);
  return { clock, network, a, b, c };
}

/** Records the payloads a transport receives for `type`, with the simulated time of arrival. */
function record(transport: MemoryTransport, clock: Clock, type = 'test.note'): { at: number; from: NodeId; payload: JsonValue }[] {
  const seen: { at: number; from: NodeId; payload: JsonValue }[] = [];
  transport.handle(type, (message) => {
    seen.push({ at: clock.now(), from: message.from, payload: message.payload });
    return message.payload;
  });
  return seen;
}

/** Settles `promise` into a value or the error it rejected with, without unhandled rejections. */
function outcome<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.catch((err: unknown) => err as Error);
}

function optionOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err.option;
    throw err;
  }
  return undefined;
}

describe('MemoryNetwork options', () => {
  it('rejects invalid options with InvalidArgumentError naming the option', () => {
    const clock = new SimulatedClock();
    expect(optionOf(() => new MemoryNetwork({ clock: undefined as unknown as Clock, seed: 1 }))).toBe('clock');
    expect(optionOf(() => new MemoryNetwork({ clock, seed: 1.5 }))).toBe('seed');
    expect(optionOf(() => new MemoryNetwork({ clock, seed: 1, defaultLink: { lossProbability: 2 } }))).toBe(
      'defaultLink.lossProbability',
    );
    expect(optionOf(() => new MemoryNetwork({ clock, seed: 1, defaultLink: { delayMs: [5, 1] } }))).toBe('defaultLink.delayMs');
    expect(optionOf(() => new MemoryNetwork({ clock, seed: 1, defaultLink: { delayMs: -1 } }))).toBe('defaultLink.delayMs');
    expect(optionOf(() => new MemoryNetwork({ clock, seed: 1, defaultLink: { delayMs: [1, Number.NaN] } }))).toBe(
      'defaultLink.delayMs[1]',
    );
    const network = new MemoryNetwork({ clock, seed: 1 });
    expect(optionOf(() => network.transport('not a node!'))).toBe('node');
    expect(optionOf(() => network.transport('a', { maxFrameBytes: 10 }))).toBe('maxFrameBytes');
    expect(optionOf(() => network.setLink('a', 'b', { duplicateProbability: -0.1 }))).toBe('options.duplicateProbability');
    expect(optionOf(() => network.setLink('a', '', {}))).toBe('to');
    expect(optionOf(() => network.partition('a', 'b c'))).toBe('b');
    expect(optionOf(() => network.pause(''))).toBe('node');
    expect(optionOf(() => new MemoryTransport({} as MemoryNetwork, 'a'))).toBe('network');
  });

  it('allows one running transport per node; a new one may start after the old one stopped', async () => {
    const { clock, network, a, b } = await cluster();
    await expect(network.transport(A).start()).rejects.toSatisfy(
      (err) => err instanceof InvalidArgumentError && err.option === 'node',
    );
    await a.close();
    const again = network.transport(A);
    await again.start();
    b.handle('test.echo', (message) => message.payload);
    const reply = outcome(again.request(B, 'test.echo', 'hi', { timeoutMs: 100 }));
    await clock.advance(1);
    expect(await reply).toBe('hi');
  });

  it('rejects calls before start() with ClosedError', async () => {
    const network = new MemoryNetwork({ clock: new SimulatedClock(), seed: 1 });
    const a = network.transport(A);
    await expect(a.send(B, 'test.note', {})).rejects.toBeInstanceOf(ClosedError);
    await expect(a.request(B, 'test.note', {}, { timeoutMs: 10 })).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('MemoryNetwork delivery', () => {
  it('delivers after the delay of the directed link', async () => {
    const { clock, network, a, b } = await cluster();
    network.setLink(A, B, { delayMs: 100 });
    network.setLink(B, A, { delayMs: 30 });
    const seen = record(b, clock, 'test.echo');
    const reply = outcome(a.request(B, 'test.echo', 'x', { timeoutMs: 1_000 }));
    await clock.advance(99);
    expect(seen).toEqual([]);
    await clock.advance(1);
    expect(seen).toEqual([{ at: 100, from: A, payload: 'x' }]);
    let settled = false;
    void reply.then(() => (settled = true));
    await clock.advance(29);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(await reply).toBe('x');
  });

  it('keeps the order of messages on a link with a fixed delay', async () => {
    const { clock, a, b } = await cluster({ defaultLink: { delayMs: 7 } });
    const seen = record(b, clock);
    for (let i = 0; i < 50; i++) await a.send(B, 'test.note', i);
    await clock.advance(10);
    expect(seen.map((s) => s.payload)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('reorders messages on a link with a delay range', async () => {
    const { clock, a, b } = await cluster({ defaultLink: { delayMs: [0, 50] } });
    const seen = record(b, clock);
    for (let i = 0; i < 50; i++) await a.send(B, 'test.note', i);
    await clock.advance(50);
    const order = seen.map((s) => s.payload as number);
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(order).not.toEqual([...order].sort((x, y) => x - y));
  });

  it('loses every message on a link with lossProbability 1, and counts them', async () => {
    const { clock, network, a, b } = await cluster();
    network.setLink(A, B, { lossProbability: 1 });
    const seen = record(b, clock);
    for (let i = 0; i < 10; i++) await a.send(B, 'test.note', i);
    const reply = outcome(a.request(B, 'test.note', 'r', { timeoutMs: 100 }));
    await clock.advance(100);
    expect(await reply).toBeInstanceOf(TimeoutError);
    expect(seen).toEqual([]);
    expect(network.stats(A)).toEqual({ sent: 11, delivered: 0, dropped: 11 });
    expect(network.stats(B)).toEqual({ sent: 0, delivered: 0, dropped: 0 });
  });

  it('loses some messages with lossProbability 0.5; sent = delivered + dropped', async () => {
    const { clock, network, a, b } = await cluster({ defaultLink: { lossProbability: 0.5 } });
    const seen = record(b, clock);
    for (let i = 0; i < 200; i++) await a.send(B, 'test.note', i);
    await clock.advance(1);
    expect(seen.length).toBeGreaterThan(50);
    expect(seen.length).toBeLessThan(150);
    expect(network.stats(B).delivered).toBe(seen.length);
    expect(network.stats(A)).toEqual({ sent: 200, delivered: 0, dropped: 200 - seen.length });
  });

  it('duplicates messages with duplicateProbability 1; a request still settles once', async () => {
    const { clock, network, a, b } = await cluster({ defaultLink: { duplicateProbability: 1, delayMs: [1, 10] } });
    const seen = record(b, clock, 'test.echo');
    const reply = outcome(a.request(B, 'test.echo', { n: 1 }, { timeoutMs: 100 }));
    await clock.advance(100);
    expect(await reply).toEqual({ n: 1 });
    expect(seen.map((s) => s.payload)).toEqual([{ n: 1 }, { n: 1 }]);
    expect(seen[0]?.payload).not.toBe(seen[1]?.payload); // each copy is its own object
    expect(network.stats(B)).toEqual({ sent: 2, delivered: 2, dropped: 0 });
    expect(network.stats(A)).toEqual({ sent: 1, delivered: 4, dropped: 0 });
  });

  it('is deterministic: the same seed and calls give the same deliveries, another seed others', async () => {
    const scenario = async (seed: number): Promise<string[]> => {
      const { clock, network, a, b, c } = await cluster({
        seed,
        defaultLink: { delayMs: [1, 20], lossProbability: 0.2, duplicateProbability: 0.2 },
      });
      const log: string[] = [];
      for (const t of [a, b, c]) {
        t.handle('test.note', (m) => void log.push(`${clock.now()} ${m.from}->${t.self} note ${JSON.stringify(m.payload)}`));
        t.handle('test.ask', (m) => {
          log.push(`${clock.now()} ${m.from}->${t.self} ask ${JSON.stringify(m.payload)}`);
          return m.payload;
        });
      }
      network.setLink(A, C, { delayMs: [5, 50] });
      const replies: Promise<void>[] = [];
      for (let i = 0; i < 30; i++) {
        const [from, to] = ([[a, B], [b, C], [c, A]] as const)[i % 3]!;
        await from.send(to, 'test.note', i);
        const reply = from.request(to, 'test.ask', i, { timeoutMs: 60 }).then(
          (value) => void log.push(`${clock.now()} reply ${JSON.stringify(value)} at ${from.self}`),
          (err: Error) => void log.push(`${clock.now()} ${err.name} ${i} at ${from.self}`),
        );
        replies.push(reply);
        if (i === 10) network.partition(A, B);
        if (i === 20) network.heal(A, B);
        await clock.advance(3);
      }
      await clock.advance(100);
      await Promise.all(replies);
      log.push(JSON.stringify([A, B, C].map((n) => network.stats(n))));
      return log;
    };
    const first = await scenario(7);
    expect(first.length).toBeGreaterThan(60);
    expect(await scenario(7)).toEqual(first);
    expect(await scenario(8)).not.toEqual(first);
  });
});

describe('MemoryNetwork partitions', () => {
  it('cuts both directions; other links keep working; heal restores', async () => {
    const { clock, network, a, b, c } = await cluster();
    for (const t of [a, b, c]) t.handle('test.echo', (m) => m.payload);
    network.partition(A, B);
    const ab = outcome(a.request(B, 'test.echo', 1, { timeoutMs: 50 }));
    const ba = outcome(b.request(A, 'test.echo', 2, { timeoutMs: 50 }));
    const ac = outcome(a.request(C, 'test.echo', 3, { timeoutMs: 50 }));
    await clock.advance(50);
    expect(await ab).toBeInstanceOf(TimeoutError);
    expect(await ba).toBeInstanceOf(TimeoutError);
    expect(await ac).toBe(3);
    network.heal(B, A);
    const healed = outcome(a.request(B, 'test.echo', 4, { timeoutMs: 50 }));
    await clock.advance(1);
    expect(await healed).toBe(4);
  });

  it('with oneWay cuts only a → b', async () => {
    const { clock, network, a, b } = await cluster();
    const atA = record(a, clock, 'test.echo');
    const atB = record(b, clock, 'test.echo');
    network.partition(A, B, { oneWay: true });
    const ab = outcome(a.request(B, 'test.echo', 1, { timeoutMs: 50 }));
    const ba = outcome(b.request(A, 'test.echo', 2, { timeoutMs: 50 }));
    await clock.advance(50);
    expect(await ab).toBeInstanceOf(TimeoutError);
    expect(await ba).toBeInstanceOf(TimeoutError); // the request arrived; the reply a → b was cut
    expect(atA.map((s) => s.payload)).toEqual([2]);
    expect(atB).toEqual([]);
  });

  it('loses a message that arrives while its link is cut', async () => {
    const { clock, network, a, b } = await cluster({ defaultLink: { delayMs: 100 } });
    const seen = record(b, clock);
    await a.send(B, 'test.note', 'in flight');
    await clock.advance(50);
    network.partition(A, B);
    await clock.advance(100);
    network.healAll();
    await clock.advance(100);
    expect(seen).toEqual([]);
    expect(network.stats(A).dropped).toBe(1);
  });
});

describe('MemoryNetwork pause and resume', () => {
  it('holds frames for a paused node and hands them over in arrival order on resume', async () => {
    const { clock, network, a, b } = await cluster({ defaultLink: { delayMs: [1, 5] } });
    const seen = record(b, clock, 'test.echo');
    network.pause(B);
    for (let i = 0; i < 5; i++) await a.send(B, 'test.echo', i);
    const reply = outcome(a.request(B, 'test.echo', 'late', { timeoutMs: 100 }));
    await clock.advance(1_000);
    expect(seen).toEqual([]);
    expect(await reply).toBeInstanceOf(TimeoutError);
    expect(network.stats(B).delivered).toBe(0);
    network.resume(B);
    // Delivered even though the requester gave up; its late reply is ignored.
    expect(seen.map((s) => s.payload).sort()).toEqual([0, 1, 2, 3, 4, 'late'].sort());
    expect(seen.every((s) => s.at === 1_000)).toBe(true);
    await clock.advance(10);
    expect(network.stats(B).delivered).toBe(6);
    expect(network.stats(A).delivered).toBe(1);
  });

  it('holds what a paused node sends until it resumes', async () => {
    const { clock, network, a, b } = await cluster({ defaultLink: { delayMs: 2 } });
    const seen = record(a, clock);
    network.pause(B);
    await b.send(A, 'test.note', 'from the frozen node');
    await clock.advance(500);
    expect(seen).toEqual([]);
    network.resume(B);
    await clock.advance(2);
    expect(seen).toEqual([{ at: 502, from: B, payload: 'from the frozen node' }]);
  });

  it('a kill ends a pause and discards what was held', async () => {
    const { clock, network, a, b } = await cluster();
    record(b, clock);
    network.pause(B);
    await a.send(B, 'test.note', 1);
    await b.send(A, 'test.note', 2);
    await clock.advance(10);
    network.kill(B);
    network.resume(B);
    const restarted = network.transport(B);
    const seen = record(restarted, clock);
    await restarted.start();
    await clock.advance(10);
    expect(seen).toEqual([]);
    expect(network.stats(A).dropped).toBe(1);
    expect(network.stats(B).dropped).toBe(1);
  });
});

describe('MemoryNetwork kill', () => {
  it('fails pending and later requests to the node with UnreachableError, and closes its transport', async () => {
    const { clock, network, a, b } = await cluster();
    const disconnected: NodeId[] = [];
    a.on('peerDisconnected', (node) => disconnected.push(node));
    b.handle('test.stall', () => new Promise<never>(() => {}));
    a.handle('test.stall', () => new Promise<never>(() => {}));
    const toB = outcome(a.request(B, 'test.stall', {}, { timeoutMs: 10_000 }));
    const fromB = outcome(b.request(A, 'test.stall', {}, { timeoutMs: 10_000 }));
    await clock.advance(1);
    network.kill(B);
    expect(await toB).toBeInstanceOf(UnreachableError);
    expect(await fromB).toBeInstanceOf(ClosedError);
    expect(clock.now()).toBe(1);
    expect(disconnected).toEqual([B]);
    await expect(a.request(B, 'test.stall', {}, { timeoutMs: 10 })).rejects.toBeInstanceOf(UnreachableError);
    await expect(a.send(B, 'test.note', {})).rejects.toBeInstanceOf(UnreachableError);
    await expect(b.send(A, 'test.note', {})).rejects.toBeInstanceOf(ClosedError);
    network.kill(B); // no transport running: nothing happens
  });

  it('a graceful close has the same effect on requests to the node', async () => {
    const { clock, a, b } = await cluster();
    b.handle('test.stall', () => new Promise<never>(() => {}));
    const toB = outcome(a.request(B, 'test.stall', {}, { timeoutMs: 10_000 }));
    await clock.advance(1);
    await b.close();
    expect(await toB).toBeInstanceOf(UnreachableError);
  });

  it('loses frames on their way to the killed node, also if a new transport of it started meanwhile', async () => {
    const { clock, network, a, b } = await cluster({ defaultLink: { delayMs: 100 } });
    record(b, clock);
    await a.send(B, 'test.note', 'to the old b');
    await b.send(A, 'test.note', 'from the old b');
    const atA = record(a, clock);
    await clock.advance(10);
    network.kill(B);
    const restarted = network.transport(B);
    const atRestarted = record(restarted, clock);
    await restarted.start();
    await clock.advance(200);
    expect(atRestarted).toEqual([]);
    expect(atA.map((s) => s.payload)).toEqual(['from the old b']); // sent before dying: still arrives
    expect(network.stats(A).dropped).toBe(1);
    const reply = outcome(a.request(B, 'test.note', 'to the new b', { timeoutMs: 1_000 }));
    await clock.advance(200);
    expect(await reply).toBe('to the new b');
  });
});

describe('MemoryTransport events and frame validation', () => {
  it('reports other transports starting and stopping', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork({ clock, seed: 1 });
    const a = network.transport(A);
    const events: string[] = [];
    a.on('peerConnected', (node) => events.push(`+${node}`));
    a.on('peerDisconnected', (node) => events.push(`-${node}`));
    await a.start();
    const b = network.transport(B);
    const atB: string[] = [];
    b.on('peerConnected', (node) => atB.push(`+${node}`));
    await b.start();
    await b.close();
    expect(events).toEqual(['+b', '-b']);
    expect(atB).toEqual(['+a']);
  });

  it('drops invalid frames with a frameRejected event before any handler sees them', async () => {
    const { clock, network, a, b } = await cluster();
    const seen = record(b, clock);
    const rejected: [string, string][] = [];
    b.on('frameRejected', (err, peer) => rejected.push([err.reason, peer]));
    const frame = (fields: Record<string, unknown>): string =>
      JSON.stringify({ kind: 'send', from: 'a', to: 'b', type: 'test.note', payload: 1, ...fields });
    network.injectFrame(A, B, '{not json');
    network.injectFrame(A, B, frame({ kind: 'shout' }));
    network.injectFrame(A, B, frame({ type: 'Not A Type' }));
    network.injectFrame(A, B, frame({ payload: undefined }));
    network.injectFrame(A, B, frame({ kind: 'request', id: 0, timeoutMs: 10 }));
    network.injectFrame(A, B, frame({ from: 'c' }));
    network.injectFrame(A, B, frame({ to: 'c' }));
    network.injectFrame(A, B, frame({ kind: 'error', id: 1, code: 'lowercase', message: '', retryable: false }));
    network.injectFrame(A, B, JSON.stringify('x'.repeat(2_000_000)));
    await clock.advance(10);
    expect(rejected).toEqual([
      ['malformed', 'a'],
      ['malformed', 'a'],
      ['malformed', 'a'],
      ['malformed', 'a'],
      ['malformed', 'a'],
      ['spoofed', 'a'],
      ['misrouted', 'a'],
      ['malformed', 'a'],
      ['oversized', 'a'],
    ]);
    expect(seen).toEqual([]);
    network.injectFrame(A, B, frame({}));
    await clock.advance(1);
    expect(seen.map((s) => s.payload)).toEqual([1]);
    expect(() => network.injectFrame(A, nodeId('nobody'), frame({}))).toThrow(UnreachableError);
    expect(a.listenerCount('frameRejected')).toBe(0);
  });

  it('settles a request only with a reply from the node it was sent to', async () => {
    const { clock, network, a, b } = await cluster();
    b.handle('test.stall', () => new Promise<never>(() => {}));
    const reply = outcome(a.request(B, 'test.stall', {}, { timeoutMs: 100 }));
    await clock.advance(1);
    // The first request of a transport has id 1.
    const forged = (from: string): string => JSON.stringify({ kind: 'reply', id: 1, from, to: 'a', payload: `from ${from}` });
    network.injectFrame(C, A, forged('c'));
    await clock.advance(1);
    network.injectFrame(B, A, forged('b'));
    expect(await reply).toBe('from b');
  });

  it('rejects frames over its own maxFrameBytes even when the sender accepts them', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork({ clock, seed: 1 });
    const a = network.transport(A);
    const b = network.transport(B, { maxFrameBytes: 2_048 });
    await Promise.all([a.start(), b.start()]);
    const seen = record(b, clock);
    const rejected: ProtocolError[] = [];
    b.on('frameRejected', (err) => rejected.push(err));
    await a.send(B, 'test.note', 'x'.repeat(3_000));
    await clock.advance(1);
    expect(seen).toEqual([]);
    expect(rejected.map((e) => e.reason)).toEqual(['oversized']);
    await expect(b.send(A, 'test.note', 'x'.repeat(3_000))).rejects.toSatisfy(
      (err) => err instanceof InvalidArgumentError && err.option === 'payload',
    );
  });
});

describe('MemoryNetwork stats', () => {
  it('counts messages sent, delivered and dropped per node', async () => {
    const { clock, network, a, b } = await cluster();
    b.handle('test.echo', (m) => m.payload);
    b.handle('test.note', () => undefined);
    await a.send(B, 'test.note', 1);
    await a.send(B, 'test.note', 2);
    const reply = outcome(a.request(B, 'test.echo', 3, { timeoutMs: 100 }));
    const before = network.stats(A);
    await clock.advance(10);
    expect(await reply).toBe(3);
    expect(before).toEqual({ sent: 3, delivered: 0, dropped: 0 }); // a snapshot, not live
    expect(network.stats(A)).toEqual({ sent: 3, delivered: 1, dropped: 0 });
    expect(network.stats(B)).toEqual({ sent: 1, delivered: 3, dropped: 0 });
    expect(network.stats('never-seen')).toEqual({ sent: 0, delivered: 0, dropped: 0 });
  });
});
