/**
 * Resolving node names to addresses through the cluster configuration (SPEC R8).
 *
 * @module
 */
import type { NodeId } from '../core/ids.js';
import type { Storage } from '../contracts/storage.js';
import type { AddressResolver, NodeAddress } from '../contracts/transport.js';
import { decodeMember, memberKey } from './member.js';

/**
 * An {@link AddressResolver} backed by the member records in storage: every call reads the
 * node's current record, so a node that registered at a new host name or port is found at the
 * next connection attempt. Unknown nodes resolve to `undefined`.
 *
 * ```ts
 * const transport = new TcpTransport({ self, listen, secret, resolve: clusterAddressResolver(storage) });
 * ```
 */
export function clusterAddressResolver(storage: Storage): AddressResolver {
  return async (node: NodeId): Promise<NodeAddress | undefined> => {
    const key = memberKey(node);
    const record = await storage.get(key);
    if (record === undefined) return undefined;
    const { host, port } = decodeMember(key, record.value);
    return { host, port };
  };
}
