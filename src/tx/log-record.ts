/**
 * The records of the transaction manager's log and their encoding: canonical JSON behind a
 * CRC-32, so a record cut at any byte, or damaged, never decodes (it fails with
 * `StorageCorruptError`) — in particular it can never turn into a commit that was not forced.
 *
 * Presumed abort: only commit decisions are logged. A transaction without a `commit` record is
 * aborted.
 *
 * @module
 */
import { crc32, fromUtf8, stableStringify, utf8 } from '../core/codec.js';
import { StorageCorruptError } from '../core/errors.js';
import type { JsonValue } from '../core/json.js';
import { RM_NAME_PATTERN, type ResourceRef } from './resource-manager.js';
import { isTxId, type TxId } from './tx-id.js';
import { isNodeId } from '../core/ids.js';

/** A log record. */
export type TxLogRecord =
  | {
      /** The commit decision of a transaction, forced before any commit is sent. */
      readonly t: 'commit';
      /** The transaction. */
      readonly tx: TxId;
      /** The participants that must commit. */
      readonly rms: readonly ResourceRef[];
    }
  | {
      /** Every participant of these transactions acknowledged the outcome; they need no recovery. */
      readonly t: 'end';
      /** The transactions. */
      readonly txs: readonly TxId[];
    };

/** Encodes a record: `<crc32 hex8> <canonical json>` in UTF-8. */
export function encodeTxLogRecord(record: TxLogRecord): Uint8Array {
  const json =
    record.t === 'commit'
      ? stableStringify({ t: 'commit', tx: record.tx, rms: record.rms.map((r) => [r.node, r.rm]) })
      : stableStringify({ t: 'end', txs: [...record.txs] });
  return utf8(`${crc32(utf8(json)).toString(16).padStart(8, '0')} ${json}`);
}

/**
 * Decodes and validates a record.
 *
 * @throws {@link StorageCorruptError} if the bytes are damaged, cut short or not a log record
 */
export function decodeTxLogRecord(bytes: Uint8Array, where: string = 'tx log record'): TxLogRecord {
  let value: JsonValue;
  try {
    const text = fromUtf8(bytes);
    const json = text.slice(9);
    if (text.length < 10 || text[8] !== ' ' || text.slice(0, 8) !== crc32(utf8(json)).toString(16).padStart(8, '0')) {
      throw new Error('checksum mismatch');
    }
    value = JSON.parse(json) as JsonValue;
  } catch (err) {
    throw new StorageCorruptError(`${where} is damaged`, { cause: err });
  }
  const r = value as { t?: unknown; tx?: unknown; rms?: unknown; txs?: unknown };
  if (r.t === 'commit' && isTxId(r.tx) && Array.isArray(r.rms) && r.rms.every(isRefPair)) {
    return { t: 'commit', tx: r.tx, rms: (r.rms as [string, string][]).map(([node, rm]) => ({ node, rm })) };
  }
  if (r.t === 'end' && Array.isArray(r.txs) && r.txs.every(isTxId)) return { t: 'end', txs: r.txs };
  throw new StorageCorruptError(`${where} is not a transaction log record`);
}

function isRefPair(value: unknown): boolean {
  return Array.isArray(value) && value.length === 2 && isNodeId(value[0]) && typeof value[1] === 'string' && RM_NAME_PATTERN.test(value[1]);
}
