/**
 * Changing the cluster configuration: compare-and-set with retry.
 *
 * @module
 */
import type { Clock } from '../core/clock.js';
import { ConflictError, InvalidArgumentError } from '../core/errors.js';
import type { NodeId } from '../core/ids.js';
import { defaultRandom, type Random } from '../core/random.js';
import type { Storage, TransactOp } from '../contracts/storage.js';
import { decodeGeneration, decodeMember, encodeGeneration, encodeMember, GENERATION_KEY, memberKey, type Member } from './member.js';

/** What a {@link ClusterDecision} writes. */
export interface ClusterChange {
  /**
   * Member records to write (each one must be among the nodes that were read). Their `generation`
   * is set to the new generation.
   */
  readonly put: readonly Member[];
}

/** What the `decide` function of {@link updateCluster} returns. */
export interface ClusterDecision<T> {
  /** The change to apply, or `undefined` to write nothing. */
  readonly change?: ClusterChange;
  /** Returned by {@link updateCluster} once the change (if any) applied. */
  readonly result: T;
}

/** Options of {@link updateCluster}. */
export interface UpdateClusterOptions {
  /** Times the pauses between attempts. */
  readonly clock: Clock;
  /** Jitter of the pauses (default `Math.random`). */
  readonly random?: Random;
  /** Aborts the retries; the outcome of an attempt under way is then unknown. */
  readonly signal?: AbortSignal;
  /** Attempts before giving up with `ConflictError` (default 100). */
  readonly maxAttempts?: number;
  /** Upper bound of one pause between attempts, in ms (default 1,000). */
  readonly maxDelayMs?: number;
}

/** The outcome of {@link updateCluster}. */
export interface ClusterUpdate<T> {
  /** What `decide` returned with the applied (or empty) change. */
  readonly result: T;
  /** `true` if a change was written. */
  readonly applied: boolean;
  /** The generation after the change (or the one read, if nothing was written). */
  readonly generation: number;
}

/**
 * Reads the member records of `nodes` and the generation, lets `decide` compute a change, and
 * writes it in one transaction that checks every record read is unchanged and raises the
 * generation by one. When another writer got in first (`ConflictError`), reads again and calls
 * `decide` again after a jittered, growing pause on the clock — so `decide` must be a pure
 * function of what it is given. Many nodes registering at once therefore spread out instead of
 * colliding forever.
 *
 * @throws `ConflictError` after `maxAttempts` lost races; `StorageCorruptError` for a bad record;
 *   storage errors as they come (a `StorageUnavailableError` or `TimeoutError` leaves the outcome
 *   unknown: read to find out)
 */
export async function updateCluster<T>(
  storage: Storage,
  nodes: readonly NodeId[],
  decide: (current: ReadonlyMap<NodeId, Member | undefined>) => ClusterDecision<T>,
  options: UpdateClusterOptions,
): Promise<ClusterUpdate<T>> {
  const random = options.random ?? defaultRandom;
  const maxAttempts = options.maxAttempts ?? 100;
  const maxDelay = options.maxDelayMs ?? 1000;
  const call = options.signal ? { signal: options.signal } : {};
  for (let attempt = 1; ; attempt++) {
    const [generationRecord, ...records] = await Promise.all([
      storage.get(GENERATION_KEY, call),
      ...nodes.map((node) => storage.get(memberKey(node), call)),
    ]);
    const generation = generationRecord === undefined ? 0 : decodeGeneration(generationRecord.value);
    const current = new Map<NodeId, Member | undefined>();
    nodes.forEach((node, i) => {
      const record = records[i];
      current.set(node, record === undefined ? undefined : decodeMember(record.key, record.value));
    });
    const decision = decide(current);
    if (!decision.change || decision.change.put.length === 0) return { result: decision.result, applied: false, generation };
    for (const put of decision.change.put) {
      if (!nodes.includes(put.node)) throw new InvalidArgumentError('change.put', `${put.node} is written but was not read`);
    }
    const ops: TransactOp[] = nodes.map((node, i) => {
      const put = decision.change!.put.find((m) => m.node === node);
      const expect = records[i]?.version ?? 'absent';
      return put
        ? { op: 'put', key: memberKey(node), value: encodeMember({ ...put, generation: generation + 1 }), expect }
        : { op: 'check', key: memberKey(node), expect };
    });
    ops.push({ op: 'put', key: GENERATION_KEY, value: encodeGeneration(generation + 1), expect: generationRecord?.version ?? 'absent' });
    try {
      await storage.transact(ops, call);
      return { result: decision.result, applied: true, generation: generation + 1 };
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= maxAttempts) throw err;
    }
    await options.clock.sleep(random.next() * Math.min(maxDelay, 5 * 2 ** attempt), options.signal);
  }
}
