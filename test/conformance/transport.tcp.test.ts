import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import type { NodeId } from '../../src/core/ids.js';
import type { NodeAddress } from '../../src/contracts/transport.js';
import { transportConformance } from '../../src/testing/index.js';
import { TcpTransport } from '../../src/transport/tcp/index.js';

transportConformance(
  { describe, it },
  async (nodes) => {
    const addresses = new Map<NodeId, NodeAddress>();
    const resolve = (node: NodeId): NodeAddress | undefined => addresses.get(node);
    const secret = randomBytes(32);
    const listen = { host: '127.0.0.1', port: 0 };
    const transports = nodes.map((self) => new TcpTransport({ self, listen, resolve, secret }));
    const impostors: TcpTransport[] = [];
    await Promise.all(transports.map((t) => t.start()));
    for (const t of transports) addresses.set(t.self, t.address!);
    return {
      transports,
      createImpostor: async (claimed) => {
        const impostor = new TcpTransport({ self: claimed, listen, resolve, secret: randomBytes(32) });
        impostors.push(impostor);
        await impostor.start();
        return impostor;
      },
      cleanup: async () => void (await Promise.all([...transports, ...impostors].map((t) => t.close()))),
    };
  },
  { name: 'TcpTransport conformance', authentication: true },
);
