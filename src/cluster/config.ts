/**
 * The cluster configuration (SPEC U2, R8): every member with its address, roles, incarnation and
 * state, the ring relations (who monitors whom) and a generation number.
 *
 * **Where it lives.** One record per member under `cluster/members/<node>` and a generation record
 * `cluster/generation`, all in the shared {@link Storage}. Every change is one compare-and-set
 * transaction that checks the versions of the member records it read and raises the generation by
 * one (see {@link updateCluster}), so changes are totally ordered and a stale writer (a zombie
 * incarnation) can never overwrite a newer state.
 *
 * **The ring is derived, not negotiated.** The active members, sorted by name, form the ring:
 * each monitors the next one, the last monitors the first ({@link ringOf}). A join, a leave or a
 * failure is therefore a single compare-and-set of one member record, and every reader derives the
 * same relations from the same records: no second write, no contention on a shared ring list.
 *
 * @module
 */
import type { CallOptions, Storage } from '../contracts/storage.js';
import type { NodeId } from '../core/ids.js';
import { CLUSTER_PREFIX, decodeGeneration, decodeMember, GENERATION_KEY, MEMBER_PREFIX, type Member } from './member.js';

/** A consistent snapshot of the cluster configuration. */
export interface ClusterConfig {
  /** Raised by one with every change; 0 before the first member registered. */
  readonly generation: number;
  /** Every member ever registered, by name (members are never removed, only change state). */
  readonly members: ReadonlyMap<NodeId, Member>;
  /** The ring relations: observer → the node it monitors (see {@link ringOf}). */
  readonly ring: ReadonlyMap<NodeId, NodeId>;
}

/**
 * The ring relations of a set of members: the `active` ones sorted by name, each monitoring the
 * next, the last monitoring the first. A single active member monitors nobody.
 */
export function ringOf(members: Iterable<Member>): Map<NodeId, NodeId> {
  const active = [...members].filter((m) => m.state === 'active').map((m) => m.node).sort(compareNames);
  const ring = new Map<NodeId, NodeId>();
  if (active.length < 2) return ring;
  active.forEach((node, i) => ring.set(node, active[(i + 1) % active.length]!));
  return ring;
}

/** The order of the ring: byte order of the names (the order of their storage keys). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reads the whole configuration in one listing (one linearizable read).
 *
 * @throws `StorageCorruptError` if a record fails validation
 */
export async function readClusterConfig(storage: Storage, options: CallOptions = {}): Promise<ClusterConfig> {
  const records = await storage.list(CLUSTER_PREFIX, options);
  let generation = 0;
  const members = new Map<NodeId, Member>();
  for (const record of records) {
    if (record.key === GENERATION_KEY) generation = decodeGeneration(record.value);
    else if (record.key.startsWith(MEMBER_PREFIX)) {
      const member = decodeMember(record.key, record.value);
      members.set(member.node, member);
    }
  }
  return { generation, members, ring: ringOf(members.values()) };
}
