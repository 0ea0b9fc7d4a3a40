/**
 * The answering side of the transport benchmark: a frame echo server, a chunk echo server and a
 * TcpTransport that answers `bench.echo` requests with their payload, all on loopback.
 *
 * `bench/transport.ts` starts it in its own process (as a node of a cluster would be) or, for the
 * same-process rows, calls {@link startFarEnd} directly. Run as a child with an IPC channel, it
 * reads the cluster secret (hex) from argv, reports its addresses with `process.send`, and exits
 * when the channel closes, so it never outlives the benchmark.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { nodeId } from '../src/core/ids.js';
import type { NodeAddress } from '../src/contracts/transport.js';
import { TcpTransport } from '../src/transport/tcp/index.js';

/** The node name of the answering TcpTransport. */
export const FAR_NODE = 'bench-far';

/** Where the far end listens. */
export interface FarEndAddresses {
  /** The port of the echo server that writes back each length-prefixed frame with its own write. */
  readonly frameEchoPort: number;
  /** The port of the echo server that writes back each chunk it reads. */
  readonly chunkEchoPort: number;
  /** The address of the answering TcpTransport. */
  readonly transport: NodeAddress;
}

/** Calls `onFrame` with each length-prefixed frame (prefix included) of a byte stream. */
export function frameReader(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
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

/** An echo server on loopback that writes back each frame, or each chunk it reads. */
async function echoServer(echo: 'frame' | 'chunk'): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('data', echo === 'frame' ? frameReader((frame) => socket.write(frame)) : (chunk: Buffer) => socket.write(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Starts the three servers; `close` stops them. */
export async function startFarEnd(secret: Buffer): Promise<FarEndAddresses & { close: () => Promise<void> }> {
  const frameEcho = await echoServer('frame');
  const chunkEcho = await echoServer('chunk');
  const transport = new TcpTransport({
    self: nodeId(FAR_NODE),
    listen: { host: '127.0.0.1', port: 0 },
    resolve: () => undefined, // it only answers
    secret,
  });
  await transport.start();
  transport.handle('bench.echo', (message) => message.payload);
  return {
    frameEchoPort: frameEcho.port,
    chunkEchoPort: chunkEcho.port,
    transport: transport.address!,
    close: async () => {
      await transport.close();
      await frameEcho.close();
      await chunkEcho.close();
    },
  };
}

if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  const farEnd = await startFarEnd(Buffer.from(process.argv[2] ?? '', 'hex'));
  const { close, ...addresses } = farEnd;
  process.on('disconnect', () => void close().finally(() => process.exit(0)));
  process.send(addresses);
}
