import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../../src/core/codec.js';
import { InvalidArgumentError, StorageCorruptError } from '../../src/core/errors.js';
import type { WatchEvent } from '../../src/contracts/storage.js';
import { FileStorage } from '../../src/storage/file/index.js';
import { encodeEntry } from '../../src/storage/file/log-format.js';
import { raiseFence } from '../../src/storage/fence.js';
import { startChild } from '../../src/testing/conformance/child-process.js';

const root = mkdtempSync(join(tmpdir(), 'nonstop-file-unit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const fresh = (): string => mkdtempSync(join(root, 'd-'));
const entryName = (i: number): string => String(i).padStart(20, '0');

describe('FileStorage', () => {
  it('validates its options and names the bad one', () => {
    expect(() => new FileStorage({ directory: '' })).toThrow(InvalidArgumentError);
    expect(() => new FileStorage({ directory: fresh(), lockStaleMs: 500 })).toThrow(/lockStaleMs/);
    expect(() => new FileStorage({ directory: fresh(), pollIntervalMs: 0 })).toThrow(/pollIntervalMs/);
    expect(() => new FileStorage({ directory: fresh(), snapshotEvery: 1.5 })).toThrow(/snapshotEvery/);
    expect(() => new FileStorage(undefined as never)).toThrow(InvalidArgumentError);
  });

  it('never shows a temporary entry left by a crash between write and link', async () => {
    const dir = fresh();
    const s = new FileStorage({ directory: dir });
    await s.start();
    await s.put('a', utf8('1'));
    writeFileSync(join(dir, 'tmp', 'dead-writer-1.entry'), encodeEntry({ id: 'dead-1', txs: [{ ops: [{ op: 'put', key: 'a', value: utf8('ghost') }] }] }));
    expect(fromUtf8((await s.get('a'))!.value)).toBe('1');
    await s.put('b', utf8('2'));
    expect(fromUtf8((await s.get('a'))!.value)).toBe('1');
    await s.close();
  });

  it('refuses to serve past a damaged log entry: StorageCorruptError, never its bytes', async () => {
    const dir = fresh();
    const s = new FileStorage({ directory: dir });
    await s.start();
    await s.put('a', utf8('1'));
    const good = encodeEntry({ id: 'x-1', txs: [{ ops: [{ op: 'put', key: 'a', value: utf8('torn') }] }] });
    writeFileSync(join(dir, 'log', entryName(s.appliedIndex + 1)), good.subarray(0, good.length - 3));
    await expect(s.get('a')).rejects.toBeInstanceOf(StorageCorruptError);
    await expect(s.put('b', utf8('1'))).rejects.toBeInstanceOf(StorageCorruptError);
    const other = new FileStorage({ directory: dir });
    await expect(other.start()).rejects.toBeInstanceOf(StorageCorruptError);
    await other.close();
    await s.close();
  });

  it('compacts the log into snapshots, and a reader far behind catches up through a snapshot', async () => {
    const dir = fresh();
    const writer = new FileStorage({ directory: dir, snapshotEvery: 10 });
    const lagging = new FileStorage({ directory: dir });
    await writer.start();
    await lagging.start();
    await writer.put('keep', utf8('0'));
    await writer.put('gone', utf8('0'));
    expect(fromUtf8((await lagging.get('gone'))!.value)).toBe('0');
    const controller = new AbortController();
    const events: WatchEvent[] = [];
    const watching = (async () => {
      for await (const e of lagging.watch('', { signal: controller.signal })) events.push(e);
    })();
    while (!events.some((e) => e.type === 'synced')) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await watching;
    const appliedBefore = lagging.appliedIndex;
    for (let i = 1; i <= 60; i++) await writer.put('keep', utf8(String(i)));
    await writer.delete('gone');
    await writer.append('s', [utf8('x'), utf8('y')]);
    for (let i = 0; i < 25; i++) await writer.put(`n/${i}`, utf8(String(i)));
    const logFiles = readdirSync(join(dir, 'log'));
    expect(logFiles.length).toBeLessThan(40);
    expect(logFiles).not.toContain(entryName(appliedBefore + 1));
    expect(readdirSync(join(dir, 'snapshots')).length).toBeGreaterThan(0);
    // The lagging handle's next entry is gone: it must jump through a snapshot, not stop early.
    expect(fromUtf8((await lagging.get('keep'))!.value)).toBe('60');
    expect(await lagging.get('gone')).toBeUndefined();
    expect(await lagging.streamInfo('s')).toEqual({ start: 0, end: 2 });
    expect((await lagging.list('n/')).length).toBe(25);
    expect(lagging.appliedIndex).toBe(writer.appliedIndex);
    const late = new FileStorage({ directory: dir });
    await late.start();
    expect(fromUtf8((await late.get('n/24'))!.value)).toBe('24');
    await Promise.all([writer.close(), lagging.close(), late.close()]);
  });

  it('watches see changes made through another handle', async () => {
    const dir = fresh();
    const a = new FileStorage({ directory: dir, pollIntervalMs: 5 });
    const b = new FileStorage({ directory: dir, pollIntervalMs: 5 });
    await a.start();
    await b.start();
    const controller = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of b.watch('w/', { signal: controller.signal })) {
        if (e.type === 'put') seen.push(`put ${e.record.key}=${fromUtf8(e.record.value)}`);
        if (e.type === 'delete') seen.push(`delete ${e.key}`);
        if (seen.length === 3) break;
      }
    })();
    await a.put('w/1', utf8('a'));
    await a.put('other', utf8('x'));
    await a.put('w/2', utf8('b'));
    await a.delete('w/1');
    await done;
    controller.abort();
    expect(seen).toEqual(['put w/1=a', 'put w/2=b', 'delete w/1']);
    await Promise.all([a.close(), b.close()]);
  });

  it('splits a group commit of large values into entries of bounded size', async () => {
    const s = new FileStorage({ directory: fresh() });
    await s.start();
    const before = s.appliedIndex;
    const big = (i: number): Uint8Array => new Uint8Array(1024 * 1024).fill(i);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.put(`big/${i}`, big(i))));
    // The first put commits alone; the 19 queued behind it need two entries of at most ~16 MiB.
    expect(s.appliedIndex - before).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < 20; i++) expect((await s.get(`big/${i}`))!.value[1000]).toBe(i);
    await s.close();
  });

  it('a process killed while holding the commit lock does not stall the others until the lock goes stale', async () => {
    // The lock goes stale only after 10 minutes: without the bounded lock wait the write below
    // would hang past the test's time limit.
    const location = { directory: fresh(), lockStaleMs: 600_000 };
    const factory = fileURLToPath(new URL('../fixtures/file-storage-factory.ts', import.meta.url));
    const childModule = new URL('../../src/testing/conformance/storage.ts', import.meta.url).href;
    const marker = join(mkdtempSync(join(root, 'm-')), 'marker');
    const s = new FileStorage({ directory: location.directory, lockStaleMs: 600_000, lockWaitMs: 100 });
    await s.start();
    const { epoch } = await raiseFence(s, 'f');
    const child = startChild(childModule, 'storage-child', {
      module: factory,
      location,
      scenario: 'zombie',
      params: { fenceKey: 'f', epoch, pauseAt: 0, marker, blockMs: 30_000, hooks: true, prefix: 'z/' },
    });
    while (!readdirSync(join(marker, '..')).includes('marker')) await new Promise((r) => setTimeout(r, 2));
    child.process.kill('SIGKILL');
    expect(await child.exited).toBe('SIGKILL');
    expect(readdirSync(location.directory)).toContain('commit.lock');
    for (let i = 0; i < 5; i++) await s.put(`after/${i}`, utf8(String(i)));
    expect((await s.list('after/')).length).toBe(5);
    expect(await s.list('z/')).toEqual([]);
    await s.close();
  });

  it('keeps the snapshot interval fixed by whoever created the directory', async () => {
    const dir = fresh();
    const first = new FileStorage({ directory: dir, snapshotEvery: 5 });
    await first.start();
    const second = new FileStorage({ directory: dir, snapshotEvery: 1000 });
    await second.start();
    for (let i = 0; i < 12; i++) await second.put('k', utf8(String(i)));
    expect(readdirSync(join(dir, 'snapshots')).length).toBeGreaterThan(0);
    await Promise.all([first.close(), second.close()]);
  });
});
