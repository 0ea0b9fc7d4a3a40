/**
 * A durable resource manager example: the key/value RM journaled to an append-only file with
 * `fdatasync`, concurrent appends sharing one sync (group commit), compacted by an atomic
 * rewrite (write a new file, sync it, rename it over the journal, sync the directory).
 *
 * @module
 */
import { mkdir, open, readFile, rename, rm, truncate, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32, fromUtf8, utf8 } from '../core/codec.js';
import { InvalidArgumentError, StorageCorruptError } from '../core/errors.js';
import { GroupCommitter } from './group-commit.js';
import { KvResourceManager, type KvResourceManagerOptions } from './kv-resource-manager.js';
import type { RmJournal, RmJournalRecord } from './rm-journal.js';

/**
 * Options of {@link FileResourceManager}: those of {@link KvResourceManagerOptions} (clock,
 * branch time-out, outcome retention, compaction, fault injection) but the journal, and the path
 * of the journal file.
 */
export interface FileResourceManagerOptions extends Omit<KvResourceManagerOptions, 'journal'> {
  /** The journal file (created if missing; its directory too). */
  readonly path: string;
}

/** Options of {@link FileRmJournal}. */
export interface FileRmJournalOptions {
  /** Inspect a journal another process is writing: never cut, never append, never compact. */
  readonly readOnly?: boolean;
  /**
   * Test only: called at each step of a compaction — `'written'` (the new file is written, not yet
   * synced), `'synced'` (synced, not yet renamed over the journal), `'renamed'` (renamed, the
   * directory not yet synced). A test process kills itself there. Never set in production.
   */
  readonly faultInjection?: (step: 'written' | 'synced' | 'renamed') => void;
}

type Item = { readonly append: readonly RmJournalRecord[] } | { readonly compact: readonly RmJournalRecord[] };

/**
 * The journal file: one line per record, `<crc32 hex> <json>`. A torn last line (a crash during a
 * write) is cut off on load; a damaged line followed by good ones is corruption.
 *
 * Compaction writes the new journal to `<path>.compact`, syncs it, renames it over `<path>` (an
 * atomic replacement) and syncs the directory, so a crash at any moment leaves the old journal or
 * the new one; a left-over `<path>.compact` (a crash before the rename) is removed on load.
 */
export class FileRmJournal implements RmJournal {
  /** The file. */
  readonly path: string;
  #handle: FileHandle | undefined;
  readonly #committer = new GroupCommitter<Item, Error | undefined>(async (items) => {
    const results: (Error | undefined)[] = [];
    let lines = '';
    let waiting: number[] = [];
    const flush = async (): Promise<void> => {
      if (waiting.length === 0) return;
      let error: Error | undefined;
      try {
        const fh = await this.#open();
        await fh.write(lines);
        await fh.datasync();
      } catch (err) {
        error = err as Error;
      }
      for (const i of waiting) results[i] = error;
      lines = '';
      waiting = [];
    };
    for (const [i, item] of items.entries()) {
      if ('append' in item) {
        lines += item.append.map(encodeLine).join('');
        waiting.push(i);
        continue;
      }
      await flush(); // earlier appends go to the old file; the new one must hold their effect
      try {
        await this.#replace(item.compact);
        results[i] = undefined;
      } catch (err) {
        results[i] = err as Error;
      }
    }
    await flush();
    return results;
  });

  readonly #readOnly: boolean;
  readonly #fault: FileRmJournalOptions['faultInjection'];

  /**
   * @param path - the journal file
   * @param options - see {@link FileRmJournalOptions}
   * @throws {@link InvalidArgumentError} naming `path`
   */
  constructor(path: string, options: FileRmJournalOptions = {}) {
    if (typeof path !== 'string' || path === '') throw new InvalidArgumentError('path', 'must be a non-empty path');
    this.path = path;
    this.#readOnly = options.readOnly === true;
    this.#fault = options.faultInjection;
  }

  /** The temporary file a compaction writes before renaming it over the journal. */
  get compactPath(): string {
    return `${this.path}.compact`;
  }

  /** @inheritDoc */
  async load(): Promise<RmJournalRecord[]> {
    await mkdir(dirname(this.path), { recursive: true });
    if (!this.#readOnly) await rm(this.compactPath, { force: true }); // an unfinished compaction
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
  async append(records: readonly RmJournalRecord[]): Promise<void> {
    if (this.#readOnly) throw new InvalidArgumentError('journal', 'is open read-only');
    const error = await this.#committer.add({ append: records });
    if (error) throw error;
  }

  /** @inheritDoc */
  async compact(records: readonly RmJournalRecord[]): Promise<void> {
    if (this.#readOnly) throw new InvalidArgumentError('journal', 'is open read-only');
    const error = await this.#committer.add({ compact: records });
    if (error) throw error;
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

  /** Write new, sync, rename over the journal, sync the directory. */
  async #replace(records: readonly RmJournalRecord[]): Promise<void> {
    const tmp = this.compactPath;
    const fh = await open(tmp, 'w');
    try {
      await fh.write(records.map(encodeLine).join(''));
      this.#fault?.('written');
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.#fault?.('synced');
    const old = this.#handle;
    this.#handle = undefined; // appends from now on go to the new file
    await old?.close();
    await rename(tmp, this.path);
    this.#fault?.('renamed');
    await syncDirectory(dirname(this.path));
  }
}

/** Makes a rename in `dir` durable (not possible, nor needed, on Windows). */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
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
  /** @throws {@link InvalidArgumentError} naming the invalid option */
  constructor(options: FileResourceManagerOptions) {
    const { path, ...rest } = options ?? ({} as FileResourceManagerOptions);
    super({ ...rest, journal: new FileRmJournal(path) });
  }
}
