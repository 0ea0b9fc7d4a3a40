/**
 * The on-disk framing of FileStorage's log entries and snapshots.
 *
 * Every file is `magic (4 bytes) · format version (u8) · payload length (u32 BE) · CRC-32 of the
 * payload (u32 BE) · payload (JSON, UTF-8)`. A file whose framing, length or checksum does not
 * hold is never returned as data: decoding rejects it with `StorageCorruptError`.
 *
 * @module
 */
import { crc32, fromUtf8, utf8 } from '../../core/codec.js';
import { StorageCorruptError } from '../../core/errors.js';
import type { Fence, TransactOp } from '../../contracts/storage.js';
import type { StateImage, Transaction } from '../state/storage-state.js';

const HEADER_BYTES = 13;
const FORMAT_VERSION = 1;

/** Magic of a log entry file. */
export const ENTRY_MAGIC = 'NSLE';
/** Magic of a snapshot file. */
export const SNAPSHOT_MAGIC = 'NSSN';

/** A log entry: the transactions one process committed in one group commit. */
export interface LogEntry {
  /** Unique id of the entry (writer id and sequence), so a writer recognises its own entry. */
  readonly id: string;
  /** The transactions, applied in order. */
  readonly txs: readonly Transaction[];
}

/** A snapshot: the state after applying every entry up to `index`. */
export interface Snapshot {
  /** The log index the snapshot covers. */
  readonly index: number;
  /** The state. */
  readonly image: StateImage;
}

/** Frames a JSON payload with magic, version, length and CRC. */
export function frame(magic: string, payload: unknown): Buffer {
  const body = utf8(JSON.stringify(payload));
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out.write(magic, 0, 'latin1');
  out.writeUInt8(FORMAT_VERSION, 4);
  out.writeUInt32BE(body.length, 5);
  out.writeUInt32BE(crc32(body), 9);
  out.set(body, HEADER_BYTES);
  return out;
}

/**
 * Checks the framing of `bytes` and parses the payload.
 *
 * @throws {@link StorageCorruptError} if anything does not hold
 */
export function unframe(magic: string, bytes: Uint8Array, what: string): unknown {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER_BYTES) throw new StorageCorruptError(`${what}: truncated header (${buf.length} bytes)`);
  if (buf.toString('latin1', 0, 4) !== magic) throw new StorageCorruptError(`${what}: bad magic`);
  if (buf.readUInt8(4) !== FORMAT_VERSION) throw new StorageCorruptError(`${what}: unknown format version ${buf.readUInt8(4)}`);
  const length = buf.readUInt32BE(5);
  if (length !== buf.length - HEADER_BYTES) {
    throw new StorageCorruptError(`${what}: length field says ${length} bytes, ${buf.length - HEADER_BYTES} present (torn write)`);
  }
  const body = buf.subarray(HEADER_BYTES);
  if (crc32(body) !== buf.readUInt32BE(9)) throw new StorageCorruptError(`${what}: checksum mismatch`);
  try {
    return JSON.parse(fromUtf8(body)) as unknown;
  } catch (err) {
    throw new StorageCorruptError(`${what}: payload is not JSON`, { cause: err });
  }
}

/** Encodes a log entry file. */
export function encodeEntry(entry: LogEntry): Buffer {
  return frame(ENTRY_MAGIC, { id: entry.id, txs: entry.txs.map(encodeTx) });
}

/** Decodes and validates a log entry file. */
export function decodeEntry(bytes: Uint8Array, what: string): LogEntry {
  const raw = unframe(ENTRY_MAGIC, bytes, what);
  const shape = raw as { id?: unknown; txs?: unknown };
  if (typeof shape !== 'object' || shape === null || typeof shape.id !== 'string' || !Array.isArray(shape.txs)) {
    throw new StorageCorruptError(`${what}: not a log entry`);
  }
  return { id: shape.id, txs: shape.txs.map((tx) => decodeTx(tx, what)) };
}

/** Encodes a snapshot file. */
export function encodeSnapshot(snapshot: Snapshot): Buffer {
  const { image } = snapshot;
  return frame(SNAPSHOT_MAGIC, {
    index: snapshot.index,
    revision: image.revision,
    records: image.records.map(([k, v, ver]) => [k, b64(v), ver]),
    streams: image.streams.map(([name, start, records]) => [name, start, records.map(b64)]),
  });
}

/** Decodes and validates a snapshot file. */
export function decodeSnapshot(bytes: Uint8Array, what: string): Snapshot {
  const raw = unframe(SNAPSHOT_MAGIC, bytes, what) as {
    index?: unknown;
    revision?: unknown;
    records?: unknown;
    streams?: unknown;
  };
  const bad = (): never => {
    throw new StorageCorruptError(`${what}: not a snapshot`);
  };
  if (typeof raw !== 'object' || raw === null || !isCount(raw.index) || !isCount(raw.revision)) bad();
  if (!Array.isArray(raw.records) || !Array.isArray(raw.streams)) bad();
  const records = (raw.records as unknown[]).map((r) => {
    if (!Array.isArray(r) || typeof r[0] !== 'string' || typeof r[1] !== 'string' || !isCount(r[2])) bad();
    const [k, v, ver] = r as [string, string, number];
    return [k, unb64(v), ver] as const;
  });
  const streams = (raw.streams as unknown[]).map((s) => {
    if (!Array.isArray(s) || typeof s[0] !== 'string' || !isCount(s[1]) || !Array.isArray(s[2])) bad();
    const [name, start, recs] = s as [string, number, unknown[]];
    return [name, start, recs.map((r) => (typeof r === 'string' ? unb64(r) : bad()))] as const;
  });
  return { index: raw.index as number, image: { revision: raw.revision as number, records, streams } };
}

type EncodedOp = Record<string, unknown> & { op: string };

function encodeTx(tx: Transaction): { ops: EncodedOp[]; fence?: Fence } {
  const ops = tx.ops.map((op): EncodedOp => {
    switch (op.op) {
      case 'put':
        return { ...op, value: b64(op.value) };
      case 'append':
        return { ...op, records: op.records.map(b64) };
      default:
        return { ...op };
    }
  });
  return tx.fence ? { ops, fence: tx.fence } : { ops };
}

function decodeTx(raw: unknown, what: string): Transaction {
  const tx = raw as { ops?: unknown; fence?: { key?: unknown; epoch?: unknown } };
  const bad = (): never => {
    throw new StorageCorruptError(`${what}: malformed transaction`);
  };
  if (typeof tx !== 'object' || tx === null || !Array.isArray(tx.ops)) bad();
  const ops = (tx.ops as EncodedOp[]).map((op): TransactOp => {
    if (typeof op !== 'object' || op === null) bad();
    const key = typeof op['key'] === 'string' ? op['key'] : '';
    const stream = typeof op['stream'] === 'string' ? op['stream'] : '';
    const expect = op['expect'] === 'absent' || isCount(op['expect']) ? (op['expect'] as number | 'absent') : undefined;
    switch (op.op) {
      case 'put':
        if (!key || typeof op['value'] !== 'string') bad();
        return expect === undefined ? { op: 'put', key, value: unb64(op['value'] as string) } : { op: 'put', key, value: unb64(op['value'] as string), expect };
      case 'delete':
        if (!key) bad();
        return expect === undefined ? { op: 'delete', key } : { op: 'delete', key, expect };
      case 'check':
        if (!key || expect === undefined) bad();
        return { op: 'check', key, expect: expect! };
      case 'append': {
        const records = op['records'];
        if (!stream || !Array.isArray(records) || !records.every((r) => typeof r === 'string')) bad();
        const decoded = (records as string[]).map(unb64);
        return isCount(op['expectEnd']) ? { op: 'append', stream, records: decoded, expectEnd: op['expectEnd'] } : { op: 'append', stream, records: decoded };
      }
      case 'trim':
        if (!stream || !isCount(op['before'])) bad();
        return { op: 'trim', stream, before: op['before'] as number };
      default:
        return bad();
    }
  });
  if (tx.fence === undefined) return { ops };
  if (typeof tx.fence?.key !== 'string' || !isCount(tx.fence.epoch) || tx.fence.epoch < 1) bad();
  return { ops, fence: { key: tx.fence!.key as string, epoch: tx.fence!.epoch as number } };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function unb64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}
