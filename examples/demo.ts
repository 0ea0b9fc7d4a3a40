/**
 * The nonstop demo on the embedded defaults: three node processes on loopback TCP, sharing one
 * FileStorage directory.
 *
 * - Each node registers its logical name with a host *name* and port in the shared storage
 *   (SPEC R8); peers resolve it from there at every connect.
 * - The nodes exchange HMAC-authenticated requests around a ring.
 * - They all increment one shared counter by compare-and-set; the total comes out exact.
 * - A forged frame sent to a node is rejected with a typed error, and the node keeps running.
 *
 * Run: npm run demo
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConflictError, decodeJson, encodeJson, fromUtf8, nodeId, utf8, type NodeAddress, type NodeId } from 'nonstop';
import { FileStorage } from 'nonstop/storage/file';
import { TcpTransport } from 'nonstop/transport/tcp';

const NODES = ['node-a', 'node-b', 'node-c'] as const;
const ROUNDS = 5;

if (process.argv[2] === 'node') {
  await runNode(nodeId(process.argv[3]), process.argv[4]!, process.argv[5]!);
} else {
  await runDemo();
}

/** The parent: starts three node processes, forges a frame, checks the shared counter. */
async function runDemo(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'nonstop-demo-'));
  const secret = randomBytes(32).toString('hex');
  console.log(`demo: shared storage in ${directory}`);
  const self = fileURLToPath(import.meta.url);
  try {
    const children = NODES.map((name) =>
      fork(self, ['node', name, directory, secret], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] }),
    );
    for (const [i, child] of children.entries()) {
      child.stdout!.setEncoding('utf8').on('data', (text: string) => {
        for (const line of text.trimEnd().split('\n')) console.log(`${NODES[i]!.padEnd(7)}| ${line}`);
      });
    }
    // Once node-a is listening, forge a frame to it: a length prefix and bytes with no valid MAC.
    const storage = new FileStorage({ directory });
    await storage.start();
    const address = await waitForAddress(storage, nodeId('node-a'));
    await new Promise<void>((resolve) => {
      const socket = connect(address.port, address.host, () => {
        const body = Buffer.from('{"forged":true}');
        const header = Buffer.alloc(4);
        header.writeUInt32BE(body.length);
        socket.end(Buffer.concat([header, body]));
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    const codes = await Promise.all(children.map((c) => new Promise<number | null>((resolve) => c.on('exit', resolve))));
    const counter = await storage.get('demo/counter');
    const total = counter ? Number(fromUtf8(counter.value)) : 0;
    await storage.close();
    console.log(`demo: node exit codes ${codes.join(', ')}; shared counter = ${total} (expected ${NODES.length * ROUNDS})`);
    if (codes.some((c) => c !== 0) || total !== NODES.length * ROUNDS) process.exitCode = 1;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** One node process. */
async function runNode(self: NodeId, directory: string, secret: string): Promise<void> {
  const storage = new FileStorage({ directory });
  await storage.start();
  const transport = new TcpTransport({
    self,
    listen: { host: '127.0.0.1', port: 0 },
    secret,
    // R8: peers are found by logical name; the address is read from shared storage at every connect.
    resolve: (node) => readAddress(storage, node),
  });
  transport.on('frameRejected', (error) => console.log(`rejected a frame: ${error.code} (${error.reason})`));
  let served = 0;
  transport.handle('demo.ping', (message) => {
    served++;
    return { pong: self, round: (message.payload as { round: number }).round };
  });
  await transport.start();
  const port = transport.address!.port;
  await storage.put(`demo/members/${self}`, encodeJson({ host: 'localhost', port }));
  console.log(`listening as ${self} on localhost:${port}, registered in shared storage`);

  const next = nodeId(NODES[(NODES.indexOf(self as (typeof NODES)[number]) + 1) % NODES.length]);
  await waitForAddress(storage, next);
  for (let round = 1; round <= ROUNDS; round++) {
    const reply = await transport.request(next, 'demo.ping', { round }, { timeoutMs: 5000 });
    const total = await incrementCounter(storage);
    console.log(`round ${round}: ${next} answered ${JSON.stringify(reply)}; shared counter now ${total}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Stay until every node has finished its rounds, so no one's last request finds us gone.
  await storage.put(`demo/done/${self}`, utf8('1'));
  while ((await storage.list('demo/done/')).length < NODES.length) await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(`served ${served} requests; closing`);
  await transport.close();
  await storage.close();
}

/** Compare-and-set increment of the shared counter; retries when another node got there first. */
async function incrementCounter(storage: FileStorage): Promise<number> {
  for (;;) {
    const current = await storage.get('demo/counter');
    const next = (current ? Number(fromUtf8(current.value)) : 0) + 1;
    try {
      await storage.put('demo/counter', utf8(String(next)), { expect: current?.version ?? 'absent' });
      return next;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
}

async function readAddress(storage: FileStorage, node: NodeId): Promise<NodeAddress | undefined> {
  const record = await storage.get(`demo/members/${node}`);
  if (!record) return undefined;
  const value = decodeJson(record.value) as { host?: unknown; port?: unknown };
  return typeof value.host === 'string' && typeof value.port === 'number' ? { host: value.host, port: value.port } : undefined;
}

async function waitForAddress(storage: FileStorage, node: NodeId): Promise<NodeAddress> {
  for (;;) {
    const address = await readAddress(storage, node);
    if (address) return address;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
