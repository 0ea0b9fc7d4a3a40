/**
 * Transport benchmark: TcpTransport request/reply round trips against two raw `net` echo servers
 * on loopback, with one request in flight and with 32. Goal (issue 2): TcpTransport ≥ 0.5 × raw
 * echo.
 *
 * - The frame echo answers each length-prefixed request frame with its own write: the raw
 *   request/response baseline.
 * - The chunk echo writes back each chunk it reads, however many frames it holds: a plain byte
 *   echo, which answers a burst of requests with one write (a stronger baseline at c=32).
 *
 * Both raw clients write each request separately. The answering side (the echo servers and the
 * answering TcpTransport, `transport-far-end.ts`) runs in two layouts:
 *
 * - two processes: the far end in a child process, as the nodes of a cluster are (the goal is
 *   judged here);
 * - one process: both ends share this process's event loop, so every round trip pays the work of
 *   both sides in turn on one thread (a harder setting for a transport whose ends do real work).
 *
 * In each layout the three are measured in alternating rounds, so that load from elsewhere affects
 * all alike. The last rows break a round trip down: the time TcpTransport adds to a raw frame echo
 * round trip at c=1 in each layout, and within it the cost of the work every TcpTransport round
 * trip must do (4 HMAC-SHA256 operations, 2 JSON encodings and parsings of the payload).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { nodeId } from '../src/core/ids.js';
import { HmacSha256 } from '../src/transport/tcp/hmac.js';
import { TcpTransport } from '../src/transport/tcp/index.js';
import type { BenchRow, BenchSuite } from './harness.js';
import { FAR_NODE, frameReader, startFarEnd, type FarEndAddresses } from './transport-far-end.js';

/** Where the answering side runs. */
type Layout = 'two processes' | 'one process';
const LAYOUTS: readonly Layout[] = ['two processes', 'one process'];

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

/** A client of one kind: a round trip, and how to stop. */
interface Client {
  readonly roundTrip: () => Promise<unknown>;
  readonly close: () => Promise<void>;
}

/** A raw client of the echo server at `port`: writes each frame, correlates echoes in order (FIFO). */
async function rawClient(port: number): Promise<Client> {
  const client: Socket = connect({ host: '127.0.0.1', port });
  client.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
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
    close: () => {
      client.destroy();
      return Promise.resolve();
    },
  };
}

/** A TcpTransport that sends `bench.echo` requests to the far end's. */
async function transportClient(far: FarEndAddresses, secret: Buffer): Promise<Client> {
  const transport = new TcpTransport({
    self: nodeId('bench-near'),
    listen: { host: '127.0.0.1', port: 0 },
    resolve: (node) => (node === FAR_NODE ? far.transport : undefined),
    secret,
  });
  await transport.start();
  const to = nodeId(FAR_NODE);
  return {
    roundTrip: () => transport.request(to, 'bench.echo', PAYLOAD, { timeoutMs: 10_000 }),
    close: () => transport.close(),
  };
}

/** Starts the far end in this process or in a child process (which exits when we disconnect). */
async function startFar(layout: Layout, secret: Buffer): Promise<FarEndAddresses & { close: () => Promise<void> }> {
  if (layout === 'one process') return startFarEnd(secret);
  const script = fileURLToPath(new URL('./transport-far-end.ts', import.meta.url));
  const child = fork(script, [secret.toString('hex')], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const addresses = await new Promise<FarEndAddresses>((resolve, reject) => {
    child.once('message', (message) => resolve(message as FarEndAddresses));
    child.once('exit', (code) => reject(new Error(`the far end exited (${code}) before it started`)));
  });
  return {
    ...addresses,
    close: async () => {
      child.disconnect();
      await exited;
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

/** Measures one layout: rows for each concurrency, and the raw and TcpTransport round trip time at c=1 (µs). */
async function measureLayout(
  layout: Layout,
  ms: number,
  progress: (message: string) => void,
): Promise<{ rows: BenchRow[]; rawMicroseconds: number; tcpMicroseconds: number }> {
  const secret = randomBytes(32);
  const far = await startFar(layout, secret);
  const clients: Client[] = [];
  try {
    const frameEcho = await rawClient(far.frameEchoPort);
    clients.push(frameEcho);
    const chunkEcho = await rawClient(far.chunkEchoPort);
    clients.push(chunkEcho);
    const tcp = await transportClient(far, secret);
    clients.push(tcp);
    const warmUp: Tally = { count: 0, ms: 0 };
    for (const client of clients) await measure(warmUp, ms / 6, 32, client.roundTrip);
    const rows: BenchRow[] = [];
    let rawMicroseconds = Number.NaN;
    let tcpMicroseconds = Number.NaN;
    for (const concurrency of CONCURRENCY) {
      progress(`${layout}: raw net echoes and TcpTransport request, ${concurrency} in flight, ${ROUNDS} alternating rounds`);
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
      if (concurrency === 1) {
        rawMicroseconds = 1e6 / frameRate;
        tcpMicroseconds = 1e6 / value;
      }
      const frameName = `raw net frame echo c=${concurrency}, ${layout}`;
      const chunkName = `raw net chunk echo c=${concurrency}, ${layout}`;
      const name = `TcpTransport request c=${concurrency}, ${layout}`;
      const note = layout === 'two processes' ? 'goal ≥ 0.5× (HMAC-SHA256, JSON)' : 'both ends on one event loop';
      rows.push(
        { suite: 'transport', name: frameName, value: frameRate, unit: 'rt/s', note: `${PAYLOAD_BYTES} B frames, loopback, a write per frame` },
        { suite: 'transport', name: chunkName, value: chunkRate, unit: 'rt/s', note: 'echoes each chunk read with one write' },
        { suite: 'transport', name, value, unit: 'rt/s', baseline: frameName, ratio: value / frameRate, note },
        { suite: 'transport', name, value, unit: 'rt/s', baseline: chunkName, ratio: value / chunkRate, note },
      );
    }
    return { rows, rawMicroseconds, tcpMicroseconds };
  } finally {
    for (const client of clients) await client.close();
    await far.close();
  }
}

const transportSuite: BenchSuite = async (context) => {
  const ms = Math.max(300, 2_000 * context.scale);
  const rows: BenchRow[] = [];
  const breakdown: BenchRow[] = [];
  let rawOneProcess = Number.NaN;
  for (const layout of LAYOUTS) {
    const measured = await measureLayout(layout, ms, context.progress);
    rows.push(...measured.rows);
    const rawName = `raw frame echo round trip c=1, ${layout}`;
    breakdown.push(
      { suite: 'transport', name: rawName, value: measured.rawMicroseconds, unit: 'µs', note: `1 ÷ raw net frame echo c=1, ${layout}` },
      {
        suite: 'transport',
        name: `TcpTransport added time c=1, ${layout}`,
        value: measured.tcpMicroseconds - measured.rawMicroseconds,
        unit: 'µs',
        baseline: rawName,
        ratio: (measured.tcpMicroseconds - measured.rawMicroseconds) / measured.rawMicroseconds,
        note: 'TcpTransport round trip − raw one',
      },
    );
    if (layout === 'one process') rawOneProcess = measured.rawMicroseconds;
  }
  context.progress('the HMAC and JSON work of one round trip');
  const work = mandatoryWork(ms);
  const rawName = 'raw frame echo round trip c=1, one process';
  breakdown.push(
    { suite: 'transport', name: 'HMAC-SHA256 per round trip', value: work.hmac, unit: 'µs', baseline: rawName, ratio: work.hmac / rawOneProcess, note: '2 frames signed and verified' },
    { suite: 'transport', name: 'JSON per round trip', value: work.json, unit: 'µs', baseline: rawName, ratio: work.json / rawOneProcess, note: '2 payloads encoded and parsed' },
  );
  return [...rows, ...breakdown];
};

export default transportSuite;
