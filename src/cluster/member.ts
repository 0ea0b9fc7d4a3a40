/**
 * One member of the cluster configuration: its record's schema, strict validation of what is read
 * from storage, and its storage key.
 *
 * @module
 */
import { decodeJson, encodeJson } from '../core/codec.js';
import { StorageCorruptError } from '../core/errors.js';
import { isNodeId, type Incarnation, type NodeId } from '../core/ids.js';
import type { JsonObject } from '../core/json.js';

/** The prefix of every record of the cluster configuration. */
export const CLUSTER_PREFIX = 'cluster/';
/** The prefix of the member records: `cluster/members/<node>`. */
export const MEMBER_PREFIX = 'cluster/members/';
/** The key of the configuration's generation record. */
export const GENERATION_KEY = 'cluster/generation';

/**
 * The lifecycle state of a member:
 *
 * - `joining`: registered with a new incarnation, not yet in the ring;
 * - `active`: in the ring, monitored by its predecessor;
 * - `leaving`: stopping normally; already out of the ring;
 * - `left`: ended normally;
 * - `failed`: declared failed by its monitor (the incarnation is dead and fenced);
 * - `recovered`: failed, and node recovery has run for it (SPEC U14).
 */
export type MemberState = 'joining' | 'active' | 'leaving' | 'left' | 'failed' | 'recovered';

/** Every {@link MemberState}, in lifecycle order (for validating records read from storage). */
export const MEMBER_STATES: readonly MemberState[] = ['joining', 'active', 'leaving', 'left', 'failed', 'recovered'];

/** A member as recorded in the cluster configuration. */
export interface Member {
  /** The logical node name (SPEC R8). */
  readonly node: NodeId;
  /** The host *name* others reach it at (SPEC R8). */
  readonly host: string;
  /** The TCP port it listens on (0 for in-process transports). */
  readonly port: number;
  /** Application roles (e.g. `tm`, `full-repository`); sorted, no duplicates. */
  readonly roles: readonly string[];
  /** The incarnation of the node this record describes; grows with every start. */
  readonly incarnation: Incarnation;
  /** Its lifecycle state. */
  readonly state: MemberState;
  /** For `failed` and `recovered`: the node that declared the failure. */
  readonly failedBy?: NodeId;
  /** The configuration generation at which this record was last written (set by `updateCluster`). */
  readonly generation: number;
}

/** `true` for the states in which a member must not act any more (its incarnation is dead). */
export function isDeadState(state: MemberState): boolean {
  return state === 'failed' || state === 'recovered' || state === 'left';
}

/** The storage key of `node`'s member record. */
export function memberKey(node: NodeId): string {
  return `${MEMBER_PREFIX}${node}`;
}

/** Encodes a member record (canonical JSON). */
export function encodeMember(member: Member): Uint8Array {
  const value: JsonObject = {
    node: member.node,
    host: member.host,
    port: member.port,
    roles: [...member.roles],
    incarnation: member.incarnation,
    state: member.state,
    generation: member.generation,
    ...(member.failedBy === undefined ? {} : { failedBy: member.failedBy }),
  };
  return encodeJson(value);
}

/**
 * Decodes and validates a member record read from storage.
 *
 * @throws {@link StorageCorruptError} if the bytes are not a valid member record for `key`
 */
export function decodeMember(key: string, bytes: Uint8Array): Member {
  const value = decodeJson(bytes, `member record ${key}`);
  const bad = (why: string): StorageCorruptError => new StorageCorruptError(`member record ${JSON.stringify(key)}: ${why}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('is not an object');
  const v = value as Record<string, unknown>;
  for (const field of Object.keys(v)) {
    if (!['node', 'host', 'port', 'roles', 'incarnation', 'state', 'failedBy', 'generation'].includes(field)) throw bad(`unknown field ${JSON.stringify(field)}`);
  }
  if (!isNodeId(v['node']) || memberKey(v['node']) !== key) throw bad('node does not match its key');
  if (typeof v['host'] !== 'string' || v['host'].length === 0 || v['host'].length > 253) throw bad('host is not a host name');
  if (!Number.isInteger(v['port']) || (v['port'] as number) < 0 || (v['port'] as number) > 65_535) throw bad('port is not a TCP port');
  const roles = v['roles'];
  if (!Array.isArray(roles) || !roles.every((r): r is string => typeof r === 'string' && r.length > 0)) throw bad('roles is not a list of names');
  if (!Number.isSafeInteger(v['incarnation']) || (v['incarnation'] as number) < 1) throw bad('incarnation is not a positive integer');
  if (!(MEMBER_STATES as readonly unknown[]).includes(v['state'])) throw bad(`state ${JSON.stringify(v['state'])} is unknown`);
  if (v['failedBy'] !== undefined && !isNodeId(v['failedBy'])) throw bad('failedBy is not a node name');
  if (!Number.isSafeInteger(v['generation']) || (v['generation'] as number) < 1) throw bad('generation is not a positive integer');
  return {
    node: v['node'],
    host: v['host'],
    port: v['port'] as number,
    roles,
    incarnation: v['incarnation'] as Incarnation,
    state: v['state'] as MemberState,
    generation: v['generation'] as number,
    ...(v['failedBy'] === undefined ? {} : { failedBy: v['failedBy'] }),
  };
}

/**
 * Decodes the generation record.
 *
 * @throws {@link StorageCorruptError} unless it holds `{ "generation": n }` with a positive integer
 */
export function decodeGeneration(bytes: Uint8Array): number {
  const value = decodeJson(bytes, GENERATION_KEY);
  const generation = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)['generation'] : undefined;
  if (!Number.isSafeInteger(generation) || (generation as number) < 1) {
    throw new StorageCorruptError(`${GENERATION_KEY} does not hold a positive generation number`);
  }
  return generation as number;
}

/** Encodes the generation record. */
export function encodeGeneration(generation: number): Uint8Array {
  return encodeJson({ generation });
}
