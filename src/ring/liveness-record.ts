/**
 * The liveness record of a node (its "KDCFILE", SPEC U4): `ring/liveness/<node>`, rewritten
 * every liveness interval by something the node's main event loop cannot block.
 *
 * @module
 */
import { decodeJson, encodeJson } from '../core/codec.js';
import { StorageCorruptError } from '../core/errors.js';
import type { Incarnation, NodeId } from '../core/ids.js';

/** The prefix of the liveness records. */
export const LIVENESS_PREFIX = 'ring/liveness/';

/** The content of a liveness record. Observers compare values; they never interpret them as time. */
export interface LivenessRecord {
  /** The incarnation of the writing node. */
  readonly incarnation: Incarnation;
  /** Increases with every write of the writer (proves the writer, and so the process, runs). */
  readonly beat: number;
  /** Increases while the node's main event loop runs (proves the main thread is not stalled). */
  readonly main: number;
}

/** The storage key of `node`'s liveness record. */
export function livenessKey(node: NodeId): string {
  return `${LIVENESS_PREFIX}${node}`;
}

/** Encodes a liveness record. */
export function encodeLiveness(record: LivenessRecord): Uint8Array {
  return encodeJson({ incarnation: record.incarnation, beat: record.beat, main: record.main });
}

/**
 * Decodes and validates a liveness record.
 *
 * @throws {@link StorageCorruptError} if it is not `{ incarnation, beat, main }` with non-negative integers
 */
export function decodeLiveness(key: string, bytes: Uint8Array): LivenessRecord {
  const value = decodeJson(bytes, key);
  const v = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  const ok =
    v !== undefined &&
    Object.keys(v).length === 3 &&
    Number.isSafeInteger(v['incarnation']) &&
    (v['incarnation'] as number) >= 1 &&
    Number.isSafeInteger(v['beat']) &&
    (v['beat'] as number) >= 0 &&
    Number.isSafeInteger(v['main']) &&
    (v['main'] as number) >= 0;
  if (!ok) throw new StorageCorruptError(`liveness record ${JSON.stringify(key)} is not { incarnation, beat, main }`);
  return { incarnation: v['incarnation'] as Incarnation, beat: v['beat'] as number, main: v['main'] as number };
}
