/**
 * A simulated three-node network on a simulated clock: requests, a partition, a time-out,
 * healing, a paused node and a killed one. Deterministic: run it twice and the output is the same.
 *
 *   npx tsx examples/simulated-network.ts
 */
import { nodeId } from 'nonstop';
import { SimulatedClock } from 'nonstop/testing';
import { MemoryNetwork, type MemoryTransport } from 'nonstop/transport/memory';

const clock = new SimulatedClock();
const network = new MemoryNetwork({ clock, seed: 42, defaultLink: { delayMs: [1, 10] } });
const say = (text: string): void => console.log(`[t=${clock.now().toFixed(1).padStart(6)} ms] ${text}`);

const nodes = ['alpha', 'beta', 'gamma'].map((name) => network.transport(name));
for (const transport of nodes) {
  await transport.start();
  transport.handle('demo.ping', (message) => {
    say(`${transport.self} got a ping from ${message.from}`);
    return { pong: transport.self };
  });
}
const [alpha, beta, gamma] = nodes as [MemoryTransport, MemoryTransport, MemoryTransport];

/** Sends a ping and lets simulated time run until it is answered or has timed out. */
async function ping(from: MemoryTransport, to: string): Promise<void> {
  const reply = from.request(nodeId(to), 'demo.ping', {}, { timeoutMs: 50 }).then(
    (answer) => say(`${from.self} → ${to}: reply ${JSON.stringify(answer)}`),
    (err: Error) => say(`${from.self} → ${to}: ${err.name}: ${err.message}`),
  );
  await clock.advance(60);
  await reply;
}

say('all links up');
await ping(alpha, 'beta');
await ping(beta, 'gamma');

say('partitioning alpha | beta');
network.partition('alpha', 'beta');
await ping(alpha, 'beta');
await ping(alpha, 'gamma');

say('healing');
network.heal('alpha', 'beta');
await ping(alpha, 'beta');

say('pausing beta (like SIGSTOP)');
network.pause('beta');
await ping(alpha, 'beta');
say('resuming beta: it now handles the ping alpha gave up on');
network.resume('beta');
await clock.advance(20);

say('killing gamma');
network.kill('gamma');
await ping(beta, 'gamma');

for (const name of ['alpha', 'beta', 'gamma']) {
  const { sent, delivered, dropped } = network.stats(name);
  say(`${name}: sent ${sent}, delivered ${delivered}, dropped ${dropped}`);
}
await Promise.all([alpha.close(), beta.close(), gamma.close()]);
