/**
 * In-process transport over a simulated network (`nonstop/transport/memory`).
 *
 * @module
 */
export { MemoryNetwork, type MemoryNetworkOptions, type NodeStats, type PartitionOptions } from './memory-network.js';
export { MemoryTransport, type MemoryTransportOptions } from './memory-transport.js';
export type { LinkOptions } from './link-options.js';
