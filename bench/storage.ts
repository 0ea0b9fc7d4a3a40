/**
 * Storage figures: the raw fdatasync rate of the scratch directory's disk (the physical baseline)
 * and FileStorage durable appends and compare-and-set operations against it.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fromUtf8, utf8 } from '../src/core/codec.js';
import { ConflictError } from '../src/core/errors.js';
import { FileStorage } from '../src/storage/file/index.js';
import type { BenchContext, BenchRow, BenchSuite } from './harness.js';

const SUITE = 'storage';

/** The physical baseline: 256-byte writes each followed by fdatasync, on `dir`'s disk; returns fsyncs per second. */
export async function rawFdatasync(dir: string, ms: number): Promise<number> {
  const fh = await open(join(dir, 'raw-fsync'), 'w');
  const block = Buffer.alloc(256, 1);
  const start = performance.now();
  let n = 0;
  try {
    while (performance.now() - start < ms) {
      await fh.write(block, 0, block.length, null);
      await fh.datasync();
      n++;
    }
  } finally {
    await fh.close();
  }
  return n / ((performance.now() - start) / 1000);
}

async function appends(storage: FileStorage, concurrency: number, ms: number): Promise<{ perSecond: number; perEntry: number }> {
  const record = utf8('x'.repeat(100));
  const entriesBefore = storage.appliedIndex;
  let n = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() - start < ms) {
        await storage.append(`bench/c${concurrency}`, [record]);
        n++;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return { perSecond: n / seconds, perEntry: n / Math.max(1, storage.appliedIndex - entriesBefore) };
}

async function casIncrements(storage: FileStorage, ms: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    const r = await storage.get('bench/cas');
    try {
      await storage.put('bench/cas', utf8(String((r ? Number(fromUtf8(r.value)) : 0) + 1)), { expect: r?.version ?? 'absent' });
      n++;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  return n / ((performance.now() - start) / 1000);
}

const suite: BenchSuite = async (ctx: BenchContext): Promise<BenchRow[]> => {
  const ms = Math.round(3000 * ctx.scale);
  ctx.progress('raw fdatasync');
  const raw = await rawFdatasync(ctx.scratchDir, ms);
  const storage = new FileStorage({ directory: join(ctx.scratchDir, 'file-storage') });
  await storage.start();
  try {
    ctx.progress('FileStorage appends, concurrency 1');
    const c1 = await appends(storage, 1, ms);
    ctx.progress('FileStorage appends, concurrency 64');
    const c64 = await appends(storage, 64, ms);
    ctx.progress('FileStorage compare-and-set');
    const cas = await casIncrements(storage, ms);
    const base = 'raw fdatasync';
    return [
      { suite: SUITE, name: base, value: raw, unit: 'fsync/s', note: 'baseline: 256-byte write + fdatasync, same disk' },
      { suite: SUITE, name: 'FileStorage append c=1', value: c1.perSecond, unit: 'appends/s', baseline: base, ratio: c1.perSecond / raw, note: 'each commit: fdatasync(entry) + fsync(dir)' },
      { suite: SUITE, name: 'FileStorage append c=64', value: c64.perSecond, unit: 'appends/s', baseline: base, ratio: c64.perSecond / raw },
      { suite: SUITE, name: 'FileStorage appends per group commit c=64', value: c64.perEntry, unit: 'appends/commit', note: 'goal ≥ 20 per fsync; a commit is 2 fsyncs' },
      { suite: SUITE, name: 'FileStorage appends per fsync c=64', value: c64.perEntry / 2, unit: 'appends/fsync', note: 'goal ≥ 20' },
      { suite: SUITE, name: 'FileStorage compare-and-set c=1', value: cas, unit: 'ops/s', baseline: base, ratio: cas / raw, note: 'get + conditional put' },
    ];
  } finally {
    await storage.close();
  }
};

export default suite;
