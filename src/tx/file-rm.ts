/**
 * A durable resource manager example: the key/value RM journaled to an append-only file with
 * `fdatasync`, concurrent appends sharing one sync (group commit).
 *
 * @module
 */
import { mkdir, open, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32, fromUtf8, utf8 } from '../core/codec.js';
import { InvalidArgumentError, StorageCorruptError } from '../core/errors.js';
import { GroupCommitter } from './group-commit.js';
import { KvResourceManager, type RmCall } from './kv-resource-manager.js';
import type { Vote } from './resource-manager.js';
import type { RmJournal, RmJournalRecord } from './rm-journal.js';
import type { TxId } from './tx-id.js';

/** Options of {@link FileResourceManager}. */
export interface FileResourceManagerOptions {
  /** The RM's name on its node. */
  readonly name: string;
  /** The journal file (created if missing; its directory too). */
  readonly path: string;
  /** Test-only fault injection (see `KvResourceManagerOptions.faultInjection`). */
  readonly faultInjection?: (call: RmCall, tx: TxId | undefined) => void | Vote | Promise<void | Vote>;
}

/**
 * The journal file: one line per record, `<crc32 hex> <json>`. A torn last line (a crash during a
 * write) is cut off on load; a damaged line followed by good ones is corruption.
 */
export class FileRmJournal implements RmJournal {
  /** The file. */
  readonly path: string;
  #handle: FileHandle | undefined;
  readonly #committer = new GroupCommitter<readonly RmJournalRecord[], void>(async (batches) => {
    const text = batches.flat().map(encodeLine).join('');
    const fh = await this.#open();
    await fh.write(text);
    await fh.datasync();
    return batches.map(() => undefined);
  });

  readonly #readOnly: boolean;

  /**
   * @param path - the journal file
   * @param options - `readOnly`: inspect a journal another process is writing (never cut, never append)
   */
  constructor(path: string, options: { readonly readOnly?: boolean } = {}) {
    if (typeof path !== 'string' || path === '') throw new InvalidArgumentError('path', 'must be a non-empty path');
    this.path = path;
    this.#readOnly = options.readOnly === true;
  }

  /** @inheritDoc */
  async load(): Promise<RmJournalRecord[]> {
    await mkdir(dirname(this.path), { recursive: true });
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const records: RmJournalRecord[] = [];
    let good = 0;
    let pos = 0;
    while (pos < bytes.length) {
      const nl = bytes.indexOf(10, pos);
      const record = nl < 0 ? undefined : decodeLine(bytes.subarray(pos, nl));
      if (!record) {
        if (nl >= 0 && nl + 1 < bytes.length) throw new StorageCorruptError(`${this.path}: damaged record at byte ${pos}`);
        break; // torn tail
      }
      records.push(record);
      pos = nl + 1;
      good = pos;
    }
    if (good < bytes.length && !this.#readOnly) await truncate(this.path, good);
    return records;
  }

  /** @inheritDoc */
  append(records: readonly RmJournalRecord[]): Promise<void> {
    if (this.#readOnly) return Promise.reject(new InvalidArgumentError('journal', 'is open read-only'));
    return this.#committer.add(records);
  }

  /** @inheritDoc */
  async close(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
  }

  async #open(): Promise<FileHandle> {
    this.#handle ??= await open(this.path, 'a');
    return this.#handle;
  }
}

function encodeLine(record: RmJournalRecord): string {
  const json = JSON.stringify(record);
  return `${crc32(utf8(json)).toString(16).padStart(8, '0')} ${json}\n`;
}

function decodeLine(line: Uint8Array): RmJournalRecord | undefined {
  try {
    const text = fromUtf8(line);
    const json = text.slice(9);
    if (text[8] !== ' ' || Number.parseInt(text.slice(0, 8), 16) !== crc32(utf8(json))) return undefined;
    return JSON.parse(json) as RmJournalRecord;
  } catch {
    return undefined;
  }
}

/**
 * A {@link KvResourceManager} whose journal is a file with `fdatasync` on every (group) append:
 * a small, complete durable RM to copy when writing your own.
 *
 * ```ts
 * const bank = new FileResourceManager({ name: 'bank-a', path: '/var/lib/app/bank-a.journal' });
 * await bank.open();
 * ```
 */
export class FileResourceManager extends KvResourceManager {
  /** @throws {@link InvalidArgumentError} naming `name` or `path` */
  constructor(options: FileResourceManagerOptions) {
    super({
      name: options.name,
      journal: new FileRmJournal(options.path),
      ...(options.faultInjection ? { faultInjection: options.faultInjection } : {}),
    });
  }
}
