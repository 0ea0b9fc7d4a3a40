/**
 * The cluster configuration: members, ring relations, generation (SPEC U2, R8).
 *
 * The public part: reading the configuration (`readClusterConfig`, `ClusterView`), the ring
 * relations (`ringOf`) and name resolution for transports (`clusterAddressResolver`). The storage
 * layout (key prefixes, record encoding) and the compare-and-set update (`updateCluster`) stay in
 * their own modules (`member.ts`, `update.ts`) for the package's internal use.
 *
 * @module
 */
export { clusterAddressResolver } from './address-resolver.js';
export { readClusterConfig, ringOf, type ClusterConfig } from './config.js';
export type { Member, MemberState } from './member.js';
export { ClusterView, type ClusterViewEvents, type ClusterViewOptions } from './view.js';
