/**
 * Transport benchmark: TcpTransport request/reply round trips against two raw `net` echo servers
 * on loopback in this process, with one request in flight and with 32. Goal (issue):
 * TcpTransport ≥ 0.5 × raw echo.
 *
 * - The frame echo answers each length-prefixed request frame with its own write: the raw
 *   request/response baseline.
 * - The chunk echo writes back each chunk it reads, however many frames it holds: a plain byte
 *   echo, which answers a burst of requests with one write (a stronger baseline at c=32).
 *
 * Both raw clients write each request separately. The three are measured in alternating rounds,
 * so that load from other processes affects all alike. The last rows are the per-round-trip cost
 * of the work every TcpTransport round trip must do besides the raw one (4 HMAC-SHA256 operations
 * and 2 JSON encodings and parsings of the payload), next to the raw round trip time.
 */
import { randomBytes } from 'node:crypto';
import { HmacSha256 } from '../src/transport/tcp/hmac.js';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { nodeId } from '../src/core/ids.js';
import type { NodeAddress } from '../src/contracts/transport.js';
import { TcpTransport } from '../src/transport/tcp/index.js';
import type { BenchRow, BenchSuite } from './harness.js';

const CONCURRENCY = [1, 32] as const;
const ROUNDS = 5;
const PAYLOAD = { op: 'bench.echo', data: 'x'.repeat(100) };
const PAYLOAD_BYTES = Buffer.byteLength(JSON.stringify(PAYLOAD));

/** A measurement: round trips and the real time they took. */
interface Tally {
  count: number;
  ms: number;
}

/** Runs `concurrency` loops of `roundTrip` for `ms` of real time, adding to `tally`. */
async function measure(tally: Tally, ms: number, concurrency: number, roundTrip: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  const end = start + ms;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      await roundTrip();
      tally.count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  tally.ms += performance.now() - start;
}

const perSecond = (tally: Tally): number => tally.count / (tally.ms / 1000);

/** Calls `onFrame` with each length-prefixed frame (prefix included) of a byte stream. */
function frameReader(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = 4 + pending.readUInt32BE(0);
      if (pending.length < size) break;
      onFrame(pending.subarray(0, size));
      pending = pending.subarray(size);
    }
  };
}

/**
 * A baseline: an echo server (writing back each frame, or each chunk it reads) and a client that
 * correlates echoes in order (FIFO).
 */
async function rawEcho(echo: 'frame' | 'chunk'): Promise<{ roundTrip: () => Promise<void>; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('data', echo === 'frame' ? frameReader((frame) => socket.write(frame)) : (chunk: Buffer) => socket.write(chunk));
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  client.setNoDelay(true);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  // FIFO of the resolvers of the round trips in flight. Settled slots are cleared and the array
  // is reset whenever it drains, so the baseline does not retain every resolver it ever made
  // (that grew the heap by millions of closures per run and slowed the GC of both sides).
  let waiting: ((() => void) | undefined)[] = [];
  let head = 0;
  client.on(
    'data',
    frameReader(() => {
      const resolve = waiting[head]!;
      waiting[head++] = undefined;
      if (head === waiting.length) {
        waiting = [];
        head = 0;
      }
      resolve();
    }),
  );
  const frame = Buffer.alloc(4 + PAYLOAD_BYTES, 'x');
  frame.writeUInt32BE(PAYLOAD_BYTES, 0);
  return {
    roundTrip: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        client.write(frame);
      }),
    close: async () => {
      client.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Two TcpTransports: `a` sends `bench.echo` requests to `b`, which returns the payload. */
async function transports(): Promise<{ roundTrip: () => Promise<unknown>; close: () => Promise<void> }> {
  const secret = randomBytes(32);
  const addresses = new Map<string, NodeAddress>();
  const make = (name: string): TcpTransport =>
    new TcpTransport({
      self: nodeId(name),
      listen: { host: '127.0.0.1', port: 0 },
      resolve: (node) => addresses.get(node),
      secret,
    });
  const a = make('bench-a');
  const b = make('bench-b');
  await a.start();
  await b.start();
  addresses.set(b.self, b.address!);
  b.handle('bench.echo', (message) => message.payload);
  return {
    roundTrip: () => a.request(b.self, 'bench.echo', PAYLOAD, { timeoutMs: 10_000 }),
    close: async () => {
      await a.close();
      await b.close();
    },
  };
}

/** Mean time in µs of `fn` over about `ms` of real time. */
function microseconds(ms: number, fn: () => void): number {
  let count = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) fn();
    count += 100;
  }
  return ((performance.now() - start) * 1000) / count;
}

/**
 * The work a TcpTransport round trip adds to a raw one, per round trip: the request and the reply
 * are each MACed by the sender and verified by the receiver, and their payloads encoded and parsed.
 */
function mandatoryWork(ms: number): { hmac: number; json: number } {
  const mac = new HmacSha256(randomBytes(32));
  const frame = Buffer.alloc(14 + 4 + 19 + 10 + PAYLOAD_BYTES + 32, 1); // a request frame of this bench
  const end = frame.length - 32;
  const hmac = microseconds(ms / 2, () => {
    mac.signPrefix(frame, end);
    mac.verifyPrefix(frame, end);
  });
  const text = JSON.stringify(PAYLOAD);
  const json = microseconds(ms / 2, () => {
    JSON.parse(JSON.stringify(PAYLOAD));
    JSON.parse(text);
  });
  return { hmac: 2 * hmac, json: 2 * json };
}

const transportSuite: BenchSuite = async (context) => {
  const ms = Math.max(300, 2_000 * context.scale);
  const rows: BenchRow[] = [];
  const frameEcho = await rawEcho('frame');
  const chunkEcho = await rawEcho('chunk');
  const tcp = await transports();
  let rawMicroseconds = Number.NaN;
  try {
    const warmUp: Tally = { count: 0, ms: 0 };
    for (const roundTrip of [frameEcho.roundTrip, chunkEcho.roundTrip, tcp.roundTrip]) await measure(warmUp, ms / 6, 32, roundTrip);
    for (const concurrency of CONCURRENCY) {
      context.progress(`raw net echoes and TcpTransport request, ${concurrency} in flight, ${ROUNDS} alternating rounds`);
      const frameTally: Tally = { count: 0, ms: 0 };
      const chunkTally: Tally = { count: 0, ms: 0 };
      const tcpTally: Tally = { count: 0, ms: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        await measure(frameTally, ms / ROUNDS, concurrency, frameEcho.roundTrip);
        await measure(chunkTally, ms / ROUNDS, concurrency, chunkEcho.roundTrip);
        await measure(tcpTally, ms / ROUNDS, concurrency, tcp.roundTrip);
      }
      const frameRate = perSecond(frameTally);
      const chunkRate = perSecond(chunkTally);
      const value = perSecond(tcpTally);
      if (concurrency === 1) rawMicroseconds = 1e6 / frameRate;
      const frameName = `raw net frame echo c=${concurrency}`;
      const chunkName = `raw net chunk echo c=${concurrency}`;
      const note = 'goal ≥ 0.5× (HMAC-SHA256, JSON)';
      rows.push(
        { suite: 'transport', name: frameName, value: frameRate, unit: 'rt/s', note: `${PAYLOAD_BYTES} B frames, loopback, a write per frame` },
        { suite: 'transport', name: chunkName, value: chunkRate, unit: 'rt/s', note: 'echoes each chunk read with one write' },
        { suite: 'transport', name: `TcpTransport request c=${concurrency}`, value, unit: 'rt/s', baseline: frameName, ratio: value / frameRate, note },
        { suite: 'transport', name: `TcpTransport request c=${concurrency}`, value, unit: 'rt/s', baseline: chunkName, ratio: value / chunkRate, note },
      );
    }
  } finally {
    await frameEcho.close();
    await chunkEcho.close();
    await tcp.close();
  }
  context.progress('the HMAC and JSON work of one round trip');
  const work = mandatoryWork(ms);
  const rawName = 'raw frame echo round trip c=1';
  rows.push(
    { suite: 'transport', name: rawName, value: rawMicroseconds, unit: 'µs', note: '1 ÷ raw net frame echo c=1' },
    { suite: 'transport', name: 'HMAC-SHA256 per round trip', value: work.hmac, unit: 'µs', baseline: rawName, ratio: work.hmac / rawMicroseconds, note: '2 frames signed and verified' },
    { suite: 'transport', name: 'JSON per round trip', value: work.json, unit: 'µs', baseline: rawName, ratio: work.json / rawMicroseconds, note: '2 payloads encoded and parsed' },
  );
  return rows;
};

export default transportSuite;
