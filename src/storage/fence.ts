/**
 * Fence records: how an authority (the active TM, a lock, a ring position) proves it is still
 * current when it writes (SPEC B1, DESIGN rule 2).
 *
 * A fence record is an ordinary record whose value is the decimal ASCII of an epoch. An authority
 * takes a new epoch with {@link raiseFence}; from then on every write carrying a `fence` with an
 * older epoch fails with `FencedError`, atomically with the write, on every adapter.
 *
 * @module
 */
import { fromUtf8, utf8 } from '../core/codec.js';
import { ConflictError, InvalidArgumentError, StorageCorruptError } from '../core/errors.js';
import { epoch as toEpoch, type Epoch } from '../core/ids.js';
import type { CallOptions, Storage, TransactOp, Version } from '../contracts/storage.js';

/** The exact bytes a fence record holds for `epoch`. Adapters compare fences by these bytes. */
export function fenceValue(epoch: number): Uint8Array {
  return utf8(String(toEpoch(epoch, 'fence.epoch')));
}

/**
 * Decodes a fence record's value.
 *
 * @throws {@link StorageCorruptError} if it is not a valid epoch
 */
export function parseFenceValue(value: Uint8Array, key = 'fence'): Epoch {
  let text: string;
  try {
    text = fromUtf8(value);
  } catch (err) {
    throw new StorageCorruptError(`fence record ${JSON.stringify(key)} is not UTF-8`, { cause: err });
  }
  if (!/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new StorageCorruptError(`fence record ${JSON.stringify(key)} does not hold an epoch`);
  }
  return Number(text) as Epoch;
}

/** The epoch a fence record holds now, or `undefined` if it does not exist. */
export async function readFence(storage: Storage, key: string, options?: CallOptions): Promise<Epoch | undefined> {
  const record = await storage.get(key, options);
  return record === undefined ? undefined : parseFenceValue(record.value, key);
}

/** Options of {@link raiseFence}. */
export interface RaiseFenceOptions extends CallOptions {
  /**
   * Only raise if the fence holds exactly this epoch now (`'absent'`: only if it does not exist).
   * Without it, the fence is raised from whatever it holds.
   */
  readonly from?: number | 'absent';
  /** Further operations to apply atomically with the raise (e.g. writing the authority record). */
  readonly with?: readonly TransactOp[];
}

/** The result of {@link raiseFence}. */
export interface RaisedFence {
  /** The new epoch: one more than the previous one (1 for a new fence). */
  readonly epoch: Epoch;
  /** The fence record's new version. */
  readonly version: Version;
}

/**
 * Takes a new epoch: atomically sets the fence record to one more than it held. From the moment
 * this resolves, every write fenced with an older epoch fails.
 *
 * Rejects with `ConflictError` if `from` is given and does not hold, or if another raise won the
 * race (the caller lost the election and must not act).
 */
export async function raiseFence(storage: Storage, key: string, options: RaiseFenceOptions = {}): Promise<RaisedFence> {
  const current = await storage.get(key, options);
  const held = current === undefined ? undefined : parseFenceValue(current.value, key);
  if (options.from !== undefined) {
    const expected = options.from === 'absent' ? undefined : toEpoch(options.from, 'from');
    if (held !== expected) {
      throw new ConflictError(key, current?.version, `fence ${JSON.stringify(key)} holds ${held ?? 'nothing'}, not ${expected ?? 'nothing'}`);
    }
  }
  const next = ((held ?? 0) + 1) as Epoch;
  if (!Number.isSafeInteger(next)) throw new InvalidArgumentError(key, 'epoch overflow');
  const result = await storage.transact(
    [{ op: 'put', key, value: fenceValue(next), expect: current?.version ?? 'absent' }, ...(options.with ?? [])],
    options.signal ? { signal: options.signal } : {},
  );
  const put = result.results[0];
  return { epoch: next, version: put?.op === 'put' ? put.version : result.revision };
}
