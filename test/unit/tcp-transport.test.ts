import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import {
  ClosedError,
  ProtocolError,
  TimeoutError,
  UnreachableError,
  type NonstopError,
} from '../../src/core/errors.js';
import { nodeId, type NodeId } from '../../src/core/ids.js';
import type { NodeAddress } from '../../src/contracts/transport.js';
import { SimulatedClock } from '../../src/testing/simulated-clock.js';
import { MAC_BYTES } from '../../src/transport/tcp/frame-auth.js';
import { FRAME_VERSION, FrameDecoder, FrameKind, type FrameEntry, type RawFrame } from '../../src/transport/tcp/frame-codec.js';
import { Handshake, type Established } from '../../src/transport/tcp/handshake.js';
import { TcpTransport } from '../../src/transport/tcp/index.js';
import { EncodedMessage } from '../../src/transport/tcp/message-codec.js';
import type { TcpTransportOptions } from '../../src/transport/tcp/options.js';
import { sealEntries, TextEntry } from '../fixtures/tcp-entries.js';

const A = nodeId('node-a');
const B = nodeId('node-b');
const secret = randomBytes(32);

/** Everything a test opened, closed after each test. */
const opened: { transports: TcpTransport[]; sockets: Socket[]; servers: Server[] } = {
  transports: [],
  sockets: [],
  servers: [],
};

afterEach(async () => {
  for (const socket of opened.sockets.splice(0)) socket.destroy();
  await Promise.all(opened.transports.splice(0).map((t) => t.close()));
  await Promise.all(opened.servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** The cluster configuration of a test: node → address, with a count of look-ups. */
class Directory {
  readonly addresses = new Map<NodeId, NodeAddress>();
  lookups = 0;
  readonly resolve = (node: NodeId): NodeAddress | undefined => {
    this.lookups++;
    return this.addresses.get(node);
  };
}

interface Observed {
  readonly rejected: ProtocolError[];
  readonly errors: NonstopError[];
  readonly connected: NodeId[];
  readonly disconnected: NodeId[];
}

async function node(
  self: NodeId,
  directory: Directory,
  options: Partial<TcpTransportOptions> = {},
): Promise<TcpTransport & { observed: Observed }> {
  const observed: Observed = { rejected: [], errors: [], connected: [], disconnected: [] };
  const transport = new TcpTransport({
    self,
    listen: { host: '127.0.0.1', port: 0 },
    resolve: directory.resolve,
    secret,
    onError: (error) => observed.errors.push(error),
    ...options,
  });
  opened.transports.push(transport);
  transport.on('frameRejected', (error) => observed.rejected.push(error));
  transport.on('peerConnected', (peer) => observed.connected.push(peer));
  transport.on('peerDisconnected', (peer) => observed.disconnected.push(peer));
  await transport.start();
  if (!directory.addresses.has(self)) directory.addresses.set(self, transport.address!);
  return Object.assign(transport, { observed });
}

function rawSocket(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  opened.sockets.push(socket);
  socket.on('error', () => undefined);
  socket.resume(); // read (and drop) what the peer sends, so that its close is seen
  return new Promise((resolve) => socket.once('connect', () => resolve(socket)));
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

/** A socket that completes a genuine handshake as `self` (it knows the secret) and then speaks raw frames. */
async function authenticatedSocket(port: number, self: NodeId, peer: NodeId): Promise<{ socket: Socket; link: Established }> {
  const socket = await rawSocket(port);
  const { handshake, hello } = Handshake.initiate({ self, secret }, peer);
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20, macBytes: MAC_BYTES });
  socket.write(hello);
  const link = await new Promise<Established>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (frame) => {
          const step = handshake.receive(frame);
          for (const out of step.send) socket.write(out);
          if (step.established) resolve(step.established);
        });
      } catch (err) {
        reject(err as Error);
      }
    });
  });
  socket.removeAllListeners('data');
  return { socket, link };
}

/** A listener that completes genuine handshakes as `self`, then never reads again. */
async function deafPeer(self: NodeId): Promise<NodeAddress> {
  const server = createServer((socket) => {
    opened.sockets.push(socket);
    socket.on('error', () => undefined);
    const handshake = Handshake.accept({ self, secret });
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 24, macBytes: MAC_BYTES });
    let deaf = false;
    socket.on('data', (chunk: Buffer) => {
      if (deaf) return;
      decoder.push(chunk, (frame) => {
        if (deaf) return;
        const step = handshake.receive(frame);
        for (const out of step.send) socket.write(out);
        if (step.established) {
          deaf = true;
          socket.pause();
        }
      });
    });
  });
  opened.servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
}

function messageFrame(link: Established, entry: FrameEntry): Buffer {
  return sealEntries(link.sealer, [entry]);
}

/** A TCP proxy in front of `port` that records the frames its clients send. */
async function recordingProxy(port: number): Promise<{ address: NodeAddress; frames: Buffer[]; inject(bytes: Buffer): void }> {
  const frames: Buffer[] = [];
  let upstream: Socket | undefined;
  const server = createServer((client) => {
    opened.sockets.push(client);
    const target = connect({ host: '127.0.0.1', port });
    opened.sockets.push(target);
    upstream = target;
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20, macBytes: MAC_BYTES });
    client.on('data', (chunk: Buffer) => {
      decoder.push(chunk, (frame: RawFrame) => frames.push(Buffer.from(frame.bytes)));
      target.write(chunk);
    });
    target.on('data', (chunk: Buffer) => client.write(chunk));
    for (const [from, to] of [[client, target], [target, client]] as const) {
      from.on('error', () => undefined);
      from.on('close', () => to.destroy());
    }
  });
  opened.servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: { host: '127.0.0.1', port: (server.address() as AddressInfo).port },
    frames,
    inject: (bytes) => upstream!.write(bytes),
  };
}

function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;
}

describe('TcpTransport over loopback', () => {
  it('exchanges requests in both directions and authenticates the sender', async () => {
    const directory = new Directory();
    const a = await node(A, directory);
    const b = await node(B, directory);
    a.handle('test.whoami', (message) => `a sees ${message.from}`);
    b.handle('test.whoami', (message) => `b sees ${message.from}`);
    expect(await a.request(B, 'test.whoami', null, { timeoutMs: 5_000 })).toBe('b sees node-a');
    expect(await b.request(A, 'test.whoami', null, { timeoutMs: 5_000 })).toBe('a sees node-b');
    expect(a.observed.connected).toEqual([B]);
    expect(b.observed.connected).toEqual([A]);
  });

  it('a peer with the wrong secret cannot connect, send or request', async () => {
    const directory = new Directory();
    const b = await node(B, directory);
    let calls = 0;
    b.handle('test.secret', () => {
      calls++;
      return 'secret';
    });
    const impostor = await node(A, directory, { secret: randomBytes(32) });
    await expect(impostor.request(B, 'test.secret', {}, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(UnreachableError);
    await expect(impostor.send(B, 'test.secret', {})).rejects.toBeInstanceOf(UnreachableError);
    await vi.waitFor(() => expect(b.observed.rejected.length).toBeGreaterThanOrEqual(1));
    expect(b.observed.rejected.every((e) => e.reason === 'bad-mac')).toBe(true);
    expect(b.observed.connected).toEqual([]);
    expect(calls).toBe(0);
  });

  it('garbage on the socket is rejected, the connection closed, and the transport keeps serving', async () => {
    const directory = new Directory();
    const a = await node(A, directory);
    const b = await node(B, directory);
    b.handle('test.ping', () => 'pong');
    const port = b.address!.port;

    const http = await rawSocket(port);
    http.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed(http);

    const wrongVersion = await rawSocket(port);
    wrongVersion.write(Buffer.from([0, 0, 0, 60, 7, 1]));
    await closed(wrongVersion);

    const noise = await rawSocket(port);
    const random = randomBytes(200);
    random.writeUInt32BE(196, 0);
    random[4] = FRAME_VERSION;
    random[5] = FrameKind.hello;
    random.fill(0, 6, 14); // sequence number 0
    noise.write(random);
    await closed(noise);

    await vi.waitFor(() => expect(b.observed.rejected).toHaveLength(3));
    expect(b.observed.rejected.map((e) => e.reason)).toEqual(['oversized', 'version', 'bad-mac']);
    expect(b.observed.rejected.every((e) => e instanceof ProtocolError)).toBe(true);
    expect(await a.request(B, 'test.ping', null, { timeoutMs: 5_000 })).toBe('pong');
  });

  it('an authenticated peer is still held to maxFrameBytes, checked on the length prefix', async () => {
    const directory = new Directory();
    const b = await node(B, directory, { maxFrameBytes: 4096 });
    const { socket } = await authenticatedSocket(b.address!.port, A, B);
    await vi.waitFor(() => expect(b.observed.connected).toEqual([A]));
    const header = Buffer.alloc(6);
    header.writeUInt32BE(4093, 0); // 4 + 4093 > 4096
    header[4] = FRAME_VERSION;
    socket.write(header);
    await closed(socket);
    expect(b.observed.rejected.map((e) => e.reason)).toEqual(['oversized']);
    await vi.waitFor(() => expect(b.observed.disconnected).toEqual([A]));
  });

  it('rejects a captured frame replayed on the same connection and on a new one', async () => {
    const directory = new Directory();
    const a = await node(A, directory);
    const b = await node(B, directory);
    let calls = 0;
    b.handle('test.transfer', () => ++calls);
    const proxy = await recordingProxy(b.address!.port);
    directory.addresses.set(B, proxy.address); // a reaches b through the proxy

    expect(await a.request(B, 'test.transfer', { amount: 100 }, { timeoutMs: 5_000 })).toBe(1);
    expect(proxy.frames.map((f) => f[5])).toEqual([FrameKind.hello, FrameKind.finish, FrameKind.message]);
    const captured = proxy.frames[2]!;

    // Same connection: the sequence number was already used.
    proxy.inject(captured);
    await vi.waitFor(() => expect(b.observed.rejected.map((e) => e.reason)).toEqual(['replay']));
    await vi.waitFor(() => expect(a.observed.disconnected).toEqual([B]));

    // New connection of a peer that knows the secret: other keys, so the MAC fails.
    const { socket } = await authenticatedSocket(b.address!.port, A, B);
    socket.write(captured);
    await closed(socket);
    expect(b.observed.rejected.map((e) => e.reason)).toEqual(['replay', 'bad-mac']);

    // The whole recorded conversation replayed from the start: the old finish fails the new handshake.
    const replayer = await rawSocket(b.address!.port);
    replayer.write(Buffer.concat(proxy.frames.slice(0, 3)));
    await closed(replayer);
    expect(b.observed.rejected.map((e) => e.reason)).toEqual(['replay', 'bad-mac', 'bad-mac']);
    expect(b.observed.rejected.every((e) => e instanceof ProtocolError)).toBe(true);
    expect(calls).toBe(1);
  });

  it('a message from an authenticated peer comes from that peer; an envelope claiming a sender is rejected', async () => {
    const directory = new Directory();
    const b = await node(B, directory);
    const senders: NodeId[] = [];
    b.handle('test.note', (message) => {
      senders.push(message.from);
    });
    const { socket, link } = await authenticatedSocket(b.address!.port, A, B);
    // A well-formed message: its sender is the peer the handshake authenticated.
    socket.write(messageFrame(link, EncodedMessage.send('test.note', null, 1024)));
    await vi.waitFor(() => expect(senders).toEqual([A]));
    // The JSON envelope of frame version 1, which named its sender, is no valid message now.
    const spoofed = JSON.stringify({ kind: 'send', from: 'node-c', to: B, type: 'test.note', payload: null });
    socket.write(messageFrame(link, new TextEntry(spoofed)));
    await closed(socket);
    expect(b.observed.rejected.map((e) => e.reason)).toEqual(['malformed']);
    expect(senders).toEqual([A]);
  });

  it('reconnects after the peer restarts on the same port, with backoff between failed attempts', async () => {
    const clock = new SimulatedClock();
    const directory = new Directory();
    const a = await node(A, directory, { clock, reconnect: { initialDelayMs: 1_000, jitter: 0 } });
    const b = await node(B, directory);
    const port = b.address!.port;
    directory.addresses.set(B, { host: 'localhost', port }); // a host name, resolved by the OS at each connect
    b.handle('test.ping', () => 'pong 1');
    expect(await a.request(B, 'test.ping', null, { timeoutMs: 5_000 })).toBe('pong 1');
    expect(directory.lookups).toBe(1);

    await b.close();
    await vi.waitFor(() => expect(a.observed.disconnected).toEqual([B]));
    await expect(a.request(B, 'test.ping', null, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(UnreachableError);
    expect(directory.lookups).toBe(2);
    // Within the backoff: fails at once, without another attempt.
    const early = await a.send(B, 'test.ping', null).catch((err: unknown) => err);
    expect(early).toBeInstanceOf(UnreachableError);
    expect((early as Error).message).toMatch(/not reconnecting yet/);
    expect(directory.lookups).toBe(2);

    const restarted = await node(B, directory, { listen: { host: '127.0.0.1', port } });
    restarted.handle('test.ping', () => 'pong 2');
    await clock.advance(1_000);
    expect(await a.request(B, 'test.ping', null, { timeoutMs: 5_000 })).toBe('pong 2');
    expect(directory.lookups).toBe(3);
    expect(a.observed.connected).toEqual([B, B]);
  });

  it('close() rejects pending requests with ClosedError and leaves no sockets behind', async () => {
    const before = tcpHandles();
    const directory = new Directory();
    const a = await node(A, directory);
    const b = await node(B, directory);
    let started = 0;
    let aborted = 0;
    b.handle('test.stall', (_message, context) => {
      started++;
      context.signal.addEventListener('abort', () => aborted++);
      return new Promise<never>(() => {});
    });
    const pending = [1, 2, 3].map(() => a.request(B, 'test.stall', null, { timeoutMs: 60_000 }));
    for (const p of pending) p.catch(() => undefined);
    await vi.waitFor(() => expect(started).toBe(3));
    expect(tcpHandles()).toBe(before + 4); // two listeners, two ends of one connection

    await a.close();
    for (const p of pending) await expect(p).rejects.toBeInstanceOf(ClosedError);
    await vi.waitFor(() => expect(b.observed.disconnected).toEqual([A]));
    await b.close();
    expect(aborted).toBe(3);
    await vi.waitFor(() => expect(tcpHandles()).toBe(before));
    await expect(a.close()).resolves.toBeUndefined();
  });

  it('closes a connection that does not complete the handshake in time (on the injected clock)', async () => {
    const clock = new SimulatedClock();
    const directory = new Directory();
    const b = await node(B, directory, { clock, handshakeTimeoutMs: 2_000 });
    const silent = await rawSocket(b.address!.port);
    await vi.waitFor(() => expect(clock.pendingTimers).toBe(1));
    await clock.advance(1_999);
    expect(silent.destroyed).toBe(false);
    await clock.advance(1);
    await closed(silent);
    await vi.waitFor(() => expect(b.observed.errors).toHaveLength(1));
    expect(b.observed.errors[0]).toBeInstanceOf(TimeoutError);
  });

  it('closes idle connections and opens a new one when needed', async () => {
    const clock: Clock = new SimulatedClock();
    const simulated = clock as SimulatedClock;
    const directory = new Directory();
    const a = await node(A, directory, { clock, idleTimeoutMs: 10_000 });
    const b = await node(B, directory, { clock, idleTimeoutMs: 10_000 });
    b.handle('test.ping', () => 'pong');
    expect(await a.request(B, 'test.ping', null, { timeoutMs: 5_000 })).toBe('pong');
    await simulated.advance(9_000);
    expect(a.observed.disconnected).toEqual([]);
    await simulated.advance(1_000);
    await vi.waitFor(() => expect(a.observed.disconnected).toEqual([B]));
    await vi.waitFor(() => expect(b.observed.disconnected).toEqual([A]));
    expect(await a.request(B, 'test.ping', null, { timeoutMs: 5_000 })).toBe('pong');
    expect(a.observed.connected).toEqual([B, B]);
  });

  it('gives up a connection whose peer stops reading instead of buffering without bound', async () => {
    const directory = new Directory();
    const a = await node(A, directory);
    directory.addresses.set(B, await deafPeer(B));
    const big = 'x'.repeat(1_000_000);
    for (let i = 0; i < 60 && a.observed.disconnected.length === 0; i++) {
      await a.send(B, 'test.bulk', big).catch(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await vi.waitFor(() => expect(a.observed.disconnected).toEqual([B]));
    expect(a.observed.errors.some((e) => e instanceof UnreachableError && /does not read/.test(e.message))).toBe(true);
  });

  it('fails requests at once when their connection is lost, without waiting for the time limit', async () => {
    const clock = new SimulatedClock();
    const directory = new Directory();
    const a = await node(A, directory, { clock });
    const b = await node(B, directory);
    let started = 0;
    b.handle('test.stall', () => {
      started++;
      return new Promise<never>(() => {});
    });
    const pending = a.request(B, 'test.stall', null, { timeoutMs: 60_000 });
    pending.catch(() => undefined);
    await vi.waitFor(() => expect(started).toBe(1));
    await b.close();
    await expect(pending).rejects.toBeInstanceOf(UnreachableError);
  });
});
