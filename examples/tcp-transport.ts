/**
 * Three nodes on 127.0.0.1 exchanging authenticated requests over the TCP transport.
 *
 * Run: `npx tsx examples/tcp-transport.ts` (set `DEBUG=nonstop:transport:*` to see the wire).
 */
import { randomBytes } from 'node:crypto';
import { nodeId, type AddressResolver, type NodeAddress, type NodeId } from 'nonstop';
import { TcpTransport, type BackoffOptions, type TcpTransportOptions } from 'nonstop/transport/tcp';

// The cluster configuration: node id → address. The transport asks at every connection attempt,
// so a node that moved is found again (in a real cluster, read it from shared storage).
const addresses = new Map<NodeId, NodeAddress>();
const resolve: AddressResolver = (node) => addresses.get(node);
const secret = randomBytes(32); // shared by every node of the cluster
// After a failed connection attempt, wait 50 ms, then 100, 200 … up to 2 s, each ±20 %.
const reconnect: BackoffOptions = { initialDelayMs: 50, multiplier: 2, maxDelayMs: 2_000, jitter: 0.2 };

const optionsOf = (self: NodeId): TcpTransportOptions => ({
  self,
  listen: { host: '127.0.0.1', port: 0 }, // port 0: any free port; read it from transport.address
  resolve,
  secret,
  reconnect,
  handshakeTimeoutMs: 2_000,
});
const names = ['alpha', 'beta', 'gamma'].map((name) => nodeId(name));
const nodes = names.map((self) => new TcpTransport(optionsOf(self)));

for (const node of nodes) {
  await node.start();
  addresses.set(node.self, node.address!);
  console.log(`${node.self} listens on ${node.address!.host}:${node.address!.port}`);
  node.on('peerConnected', (peer) => console.log(`  ${node.self}: connected with ${peer}`));
  node.on('frameRejected', (error, peer) => console.log(`  ${node.self}: rejected a frame from ${peer}: ${error.message}`));
  // Every node answers `demo.greet` with a greeting naming the (authenticated) sender.
  node.handle('demo.greet', (message) => `hello ${message.from}, this is ${node.self}`);
}

for (const from of nodes) {
  for (const to of names.filter((name) => name !== from.self)) {
    const reply = await from.request(to, 'demo.greet', { n: 1 }, { timeoutMs: 2_000 });
    console.log(`${from.self} → ${to}: ${JSON.stringify(reply)}`);
  }
}

// A node with the wrong secret cannot talk to the cluster.
const intruder = new TcpTransport({ ...optionsOf(nodeId('mallory')), secret: randomBytes(32) });
await intruder.start();
try {
  await intruder.request(names[0]!, 'demo.greet', null, { timeoutMs: 2_000 });
  console.log('unexpected: the intruder got an answer');
  process.exitCode = 1;
} catch (err) {
  console.log(`mallory → alpha failed as it should: ${(err as Error).message}`);
}

await Promise.all([...nodes, intruder].map((node) => node.close()));
console.log('all transports closed');
