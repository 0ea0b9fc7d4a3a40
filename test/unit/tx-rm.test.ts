import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Epoch } from '../../src/core/ids.js';
import {
  FileResourceManager,
  MemoryResourceManager,
  MemoryRmJournal,
  StaleEpochError,
  TxConflictError,
  TxStateError,
  type TxId,
} from '../../src/tx/index.js';

const e = (n: number): Epoch => n as Epoch;
const t = (s: string): TxId => s as TxId;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('KvResourceManager (in memory)', () => {
  it('prepares, commits, and answers duplicates with the final state', async () => {
    const rm = new MemoryResourceManager('bank');
    await rm.write(t('t1.1'), 'a', 5);
    expect(await rm.prepare(t('t1.1'), e(1))).toBe('prepared');
    expect(await rm.prepare(t('t1.1'), e(1))).toBe('prepared');
    expect(await rm.commit(t('t1.1'), e(1))).toEqual({ outcome: 'committed', heuristic: false });
    expect(await rm.commit(t('t1.1'), e(1))).toEqual({ outcome: 'committed', heuristic: false });
    expect(await rm.rollback(t('t1.1'), e(1))).toEqual({ outcome: 'committed', heuristic: false });
    expect(await rm.read('a')).toBe(5);
  });

  it('rejects calls from an older epoch once it has seen a newer one (B1)', async () => {
    const rm = new MemoryResourceManager('bank');
    await rm.write(t('t1.1'), 'a', 5);
    expect(await rm.rollback(t('t2.9'), e(2))).toEqual({ outcome: 'rolledBack', heuristic: false });
    await expect(rm.prepare(t('t1.1'), e(1))).rejects.toBeInstanceOf(StaleEpochError);
    await expect(rm.commit(t('t1.1'), e(1), { onePhase: true })).rejects.toBeInstanceOf(StaleEpochError);
    expect(rm.highestEpoch).toBe(2);
  });

  it('refuses work and prepare after rollback, and locks keys between transactions', async () => {
    const rm = new MemoryResourceManager('bank');
    await rm.write(t('t1.1'), 'a', 1);
    await expect(rm.write(t('t1.2'), 'a', 2)).rejects.toBeInstanceOf(TxConflictError);
    await rm.rollback(t('t1.1'), e(1));
    await expect(rm.write(t('t1.1'), 'b', 1)).rejects.toBeInstanceOf(TxStateError);
    expect(await rm.prepare(t('t1.1'), e(1))).toBe('refused');
    await rm.write(t('t1.2'), 'a', 2); // the lock was released
  });

  it('after a restart keeps prepared branches and refuses branches whose work was lost', async () => {
    const journal = new MemoryRmJournal();
    const before = new MemoryResourceManager('bank', { journal });
    await before.write(t('t1.1'), 'a', 1);
    await before.prepare(t('t1.1'), e(1));
    await before.write(t('t1.2'), 'b', 1); // active, not durable
    const after = new MemoryResourceManager('bank', { journal });
    expect(await after.recover(e(2))).toEqual([{ tx: 't1.1', state: 'prepared' }]);
    expect(await after.prepare(t('t1.2'), e(2))).toBe('refused');
    await after.commit(t('t1.1'), e(2));
    expect(await after.read('a')).toBe(1);
    await expect(after.write(t('t1.3'), 'a', 3)).resolves.toBeUndefined();
  });

  it('reports heuristic decisions through recover until forgotten', async () => {
    const rm = new MemoryResourceManager('bank');
    await rm.write(t('t1.1'), 'a', 1);
    await rm.prepare(t('t1.1'), e(1));
    await rm.heuristicDecide(t('t1.1'), 'committed');
    expect(await rm.recover(e(1))).toEqual([{ tx: 't1.1', state: 'heuristicCommit' }]);
    expect(await rm.commit(t('t1.1'), e(1))).toEqual({ outcome: 'committed', heuristic: true });
    await rm.forget(t('t1.1'), e(1));
    expect(await rm.recover(e(1))).toEqual([]);
  });
});

describe('FileResourceManager', () => {
  it('survives a restart from its journal and cuts a torn last record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nonstop-rm-'));
    dirs.push(dir);
    const path = join(dir, 'bank.journal');
    const a = new FileResourceManager({ name: 'bank', path });
    await a.write(t('t1.1'), 'x', 1);
    await a.prepare(t('t1.1'), e(1));
    await a.write(t('t1.2'), 'y', 2);
    await a.prepare(t('t1.2'), e(1));
    await a.commit(t('t1.2'), e(1));
    await a.close();
    writeFileSync(path, readFileSync(path, 'utf8') + '0000abcd {"t":"commit","tx":"t1.1"'); // torn write
    const b = new FileResourceManager({ name: 'bank', path });
    expect(await b.recover(e(1))).toEqual([{ tx: 't1.1', state: 'prepared' }]);
    expect(await b.read('y')).toBe(2);
    expect(await b.read('x')).toBeUndefined();
    await b.commit(t('t1.1'), e(1));
    await b.close();
    const c = new FileResourceManager({ name: 'bank', path });
    expect(await c.read('x')).toBe(1);
    await c.close();
  });
});
