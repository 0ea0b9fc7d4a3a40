/**
 * Transport benchmark: TcpTransport request/reply round trips against a raw `net` echo of
 * length-prefixed frames of the same size, both on loopback in this process, with one request in
 * flight and with 32. Goal (issue): TcpTransport ≥ 0.5 × raw echo.
 *
 * The two are measured in alternating rounds, so that load from other processes affects both
 * alike.
 */
import { randomBytes } from 'node:crypto';
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

/** The baseline: an echo server and a client that correlates echoes in order (FIFO). */
async function rawEcho(): Promise<{ roundTrip: () => Promise<void>; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('data', frameReader((frame) => socket.write(frame)));
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

const transportSuite: BenchSuite = async (context) => {
  const ms = Math.max(300, 2_000 * context.scale);
  const rows: BenchRow[] = [];
  const raw = await rawEcho();
  const tcp = await transports();
  try {
    const warmUp: Tally = { count: 0, ms: 0 };
    await measure(warmUp, ms / 4, 32, raw.roundTrip);
    await measure(warmUp, ms / 4, 32, tcp.roundTrip);
    for (const concurrency of CONCURRENCY) {
      context.progress(`raw net echo and TcpTransport request, ${concurrency} in flight, ${ROUNDS} alternating rounds`);
      const rawTally: Tally = { count: 0, ms: 0 };
      const tcpTally: Tally = { count: 0, ms: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        await measure(rawTally, ms / ROUNDS, concurrency, raw.roundTrip);
        await measure(tcpTally, ms / ROUNDS, concurrency, tcp.roundTrip);
      }
      const baseline = perSecond(rawTally);
      const value = perSecond(tcpTally);
      const baselineName = `raw net echo c=${concurrency}`;
      rows.push(
        { suite: 'transport', name: baselineName, value: baseline, unit: 'rt/s', note: `${PAYLOAD_BYTES} B frames, loopback` },
        {
          suite: 'transport',
          name: `TcpTransport request c=${concurrency}`,
          value,
          unit: 'rt/s',
          baseline: baselineName,
          ratio: value / baseline,
          note: 'goal ≥ 0.5× (HMAC-SHA256, JSON)',
        },
      );
    }
  } finally {
    await raw.close();
    await tcp.close();
  }
  return rows;
};

export default transportSuite;
