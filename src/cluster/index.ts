/**
 * The cluster configuration: members, ring relations, generation (SPEC U2, R8).
 *
 * @module
 */
export { clusterAddressResolver } from './address-resolver.js';
export { compareNames, readClusterConfig, ringOf, type ClusterConfig } from './config.js';
export {
  CLUSTER_PREFIX,
  decodeMember,
  encodeMember,
  GENERATION_KEY,
  isDeadState,
  MEMBER_PREFIX,
  MEMBER_STATES,
  memberKey,
  type Member,
  type MemberState,
} from './member.js';
export {
  updateCluster,
  type ClusterChange,
  type ClusterDecision,
  type ClusterUpdate,
  type UpdateClusterOptions,
} from './update.js';
export { ClusterView, type ClusterViewEvents, type ClusterViewOptions } from './view.js';
