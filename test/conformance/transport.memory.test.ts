import { describe, it } from 'vitest';
import { MemoryNetwork, SimulatedClock, transportConformance } from '../../src/testing/index.js';

transportConformance(
  { describe, it },
  async (nodes) => {
    const clock = new SimulatedClock();
    // Random delays reorder messages, so concurrent replies come back out of order.
    const network = new MemoryNetwork({ clock, seed: 1, defaultLink: { delayMs: [0.5, 5] } });
    const transports = nodes.map((node) => network.transport(node));
    await Promise.all(transports.map((t) => t.start()));
    const cleanup = async (): Promise<void> => void (await Promise.all(transports.map((t) => t.close())));
    return { transports, clock, advance: (ms) => clock.advance(ms), cleanup };
  },
  { name: 'MemoryTransport conformance' },
);
