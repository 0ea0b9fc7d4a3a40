/**
 * Transaction ids. An id names the epoch of the transaction manager that began it
 * (`t<epoch>.<seq>`), so after a failover every manager can tell an old transaction, which no
 * live manager can decide any more, from one of its own.
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';
import { describe, type Epoch } from '../core/ids.js';

declare const txIdBrand: unique symbol;

/** A transaction id, `t<epoch>.<seq>`: `TxManager.begin` makes them; {@link txId} validates one. */
export type TxId = string & {
  /** Type-level brand. */
  readonly [txIdBrand]: true;
};

const TX_ID = /^t([1-9][0-9]{0,15})\.([0-9]{1,16})$/;

/** The id of transaction number `seq` begun under `epoch`. */
export function makeTxId(epoch: Epoch, seq: number): TxId {
  return `t${epoch}.${seq}` as TxId;
}

/** `true` if `value` is a well-formed transaction id. */
export function isTxId(value: unknown): value is TxId {
  return typeof value === 'string' && TX_ID.test(value);
}

/**
 * Validates and brands a transaction id.
 *
 * @throws {@link InvalidArgumentError} naming `option` if `value` is not a transaction id
 */
export function txId(value: unknown, option: string = 'tx'): TxId {
  if (!isTxId(value)) throw new InvalidArgumentError(option, `must be a transaction id t<epoch>.<seq> (got ${describe(value)})`);
  return value;
}

/** The epoch of the transaction manager that began `tx`. */
export function epochOfTx(tx: TxId): Epoch {
  return Number(TX_ID.exec(tx)![1]) as Epoch;
}

/** The sequence number of `tx` within its epoch. */
export function seqOfTx(tx: TxId): number {
  return Number(TX_ID.exec(tx)![2]);
}

/**
 * Orders transaction ids: by the epoch that began them, then by sequence number. Negative if `a`
 * comes first, positive if `b` does, 0 if they are the same transaction.
 */
export function compareTxIds(a: TxId, b: TxId): number {
  return epochOfTx(a) - epochOfTx(b) || seqOfTx(a) - seqOfTx(b);
}
