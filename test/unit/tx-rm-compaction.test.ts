// Resource-manager journal compaction: the journal is rewritten as the smallest equivalent of the
// live state, automatically past a threshold, and crash-safely — a crash at any step leaves the
// old journal or the new one, and the state rebuilt from it equals the state before.
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Epoch } from '../../src/core/ids.js';
import { stateOf, workload } from '../fixtures/tx-rm-workload.js';
import {
  FileResourceManager,
  FileRmJournal,
  KvResourceManager,
  MemoryResourceManager,
  MemoryRmJournal,
  TxConflictError,
  type RmJournal,
  type TxId,
} from '../../src/tx/index.js';

const e = (n: number): Epoch => n as Epoch;
const t = (s: string): TxId => s as TxId;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nonstop-compact-'));
  dirs.push(dir);
  return dir;
}

describe('KvResourceManager.compact', () => {
  it('rewrites the journal as the live state, and a restart rebuilds the same state', async () => {
    const journal = new MemoryRmJournal();
    const rm = new MemoryResourceManager('bank', { journal, compaction: false });
    await workload(rm);
    const before = await stateOf(rm);
    const longJournal = (await journal.load()).length;
    await rm.compact();
    const records = await journal.load();
    expect(records.length).toBeLessThan(10);
    expect(records.length).toBeLessThan(longJournal / 10);
    expect(rm.journalRecords).toBe(records.length);
    expect(await stateOf(new MemoryResourceManager('bank', { journal }))).toEqual(before);
    // The compacted RM goes on as before: locks of prepared branches, decisions, new work.
    await expect(rm.write(t('t4.1'), 'k1', 0)).rejects.toBeInstanceOf(TxConflictError);
    await rm.commit(t('t3.3'), e(4));
    await rm.write(t('t4.1'), 'k1', 'after');
    await rm.commit(t('t4.1'), e(4), { onePhase: true });
    expect(await stateOf(new MemoryResourceManager('bank', { journal }))).toEqual(await stateOf(rm));
  });

  it('compacts by itself once the journal holds more than `ratio` times the live state', async () => {
    const journal = new MemoryRmJournal();
    const rm = new MemoryResourceManager('bank', { journal, outcomeRetention: 20, compaction: { ratio: 2, minRecords: 50 } });
    for (let i = 1; i <= 400; i++) {
      const tx = t(`t1.${i}`);
      await rm.write(tx, `k${i % 5}`, i);
      await rm.prepare(tx, e(1));
      await rm.commit(tx, e(1));
    }
    // 801 records were written; live: 5 keys and 20 remembered outcomes.
    const records = await journal.load();
    expect(records.length).toBeLessThanOrEqual(2 * (1 + 5 + 20) + 1);
    const again = new MemoryResourceManager('bank', { journal, outcomeRetention: 20 });
    expect(await stateOf(again)).toEqual(await stateOf(rm));
    expect(again.outcomes().size).toBe(20);
  });

  it('remembers the last `outcomeRetention` outcomes (heuristic ones until forgotten), the same before and after a restart', async () => {
    const journal = new MemoryRmJournal();
    const rm = new MemoryResourceManager('bank', { journal, outcomeRetention: 3, compaction: false });
    await rm.write(t('t1.1'), 'a', 1);
    await rm.prepare(t('t1.1'), e(1));
    await rm.heuristicDecide(t('t1.1'), 'committed');
    for (let i = 2; i <= 6; i++) await rm.rollback(t(`t1.${i}`), e(1));
    expect([...rm.outcomes().keys()]).toEqual(['t1.1', 't1.5', 't1.6']);
    const reopen = (): MemoryResourceManager => new MemoryResourceManager('bank', { journal, outcomeRetention: 3 });
    expect(await stateOf(reopen())).toEqual(await stateOf(rm));
    await rm.compact();
    expect(await stateOf(reopen())).toEqual(await stateOf(rm));
    await rm.forget(t('t1.1'), e(1));
    await rm.rollback(t('t1.7'), e(1)); // the forgotten heuristic outcome is now the oldest to go
    expect([...rm.outcomes().keys()]).toEqual(['t1.5', 't1.6', 't1.7']);
    expect(await stateOf(reopen())).toEqual(await stateOf(rm));
  });

  it('compacts a long journal when it opens it, so the next restart reads little', async () => {
    const journal = new MemoryRmJournal();
    const writer = new MemoryResourceManager('bank', { journal, compaction: false });
    for (let i = 1; i <= 200; i++) {
      await writer.write(t(`t1.${i}`), 'k', i);
      await writer.commit(t(`t1.${i}`), e(1), { onePhase: true });
    }
    const reader = new MemoryResourceManager('bank', { journal, compaction: { ratio: 2, minRecords: 100 } });
    await reader.open();
    await reader.compact(); // waits for the compaction open() started
    expect((await journal.load()).length).toBeLessThan(10);
    expect(await reader.read('k')).toBe(200);
  });

  it('lets writes wait while it runs and loses none of them', async () => {
    const journal = new MemoryRmJournal();
    const rm = new MemoryResourceManager('bank', { journal, compaction: false });
    await workload(rm, 30);
    const work = Array.from({ length: 20 }, async (_, i) => {
      const tx = t(`t5.${i}`);
      await rm.write(tx, `c${i}`, i);
      if (i % 2 === 0) await rm.commit(tx, e(5), { onePhase: true });
      else await rm.prepare(tx, e(5));
    });
    await Promise.all([rm.compact(), ...work, rm.compact()]);
    expect(await stateOf(new MemoryResourceManager('bank', { journal }))).toEqual(await stateOf(rm));
  });

  it('does nothing with a journal that cannot compact', async () => {
    const inner = new MemoryRmJournal();
    const plain: RmJournal = { load: () => inner.load(), append: (r) => inner.append(r), close: () => inner.close() };
    const rm = new KvResourceManager({ name: 'bank', journal: plain });
    await workload(rm, 10);
    const length = (await inner.load()).length;
    await rm.compact();
    expect((await inner.load()).length).toBe(length);
  });
});

describe('FileRmJournal compaction is crash-safe', () => {
  it('after compaction, new appends go to the new file and survive a restart', async () => {
    const path = join(tempDir(), 'bank.journal');
    const rm = new FileResourceManager({ name: 'bank', path, compaction: false });
    await workload(rm);
    await rm.compact();
    await rm.commit(t('t3.3'), e(4));
    await rm.write(t('t4.1'), 'k1', 'after');
    await rm.commit(t('t4.1'), e(4), { onePhase: true });
    const before = await stateOf(rm);
    await rm.close();
    expect(existsSync(`${path}.compact`)).toBe(false);
    const again = new FileResourceManager({ name: 'bank', path });
    expect(await stateOf(again)).toEqual(before);
    expect(await again.read('k1')).toBe('after');
    await again.close();
  });

  for (const step of ['written', 'torn', 'synced', 'renamed'] as const) {
    it(`a crash at step "${step}" leaves the old or the new journal, and the same state`, async () => {
      const path = join(tempDir(), 'bank.journal');
      const rm = new FileResourceManager({ name: 'bank', path, compaction: false });
      await workload(rm);
      const before = await stateOf(rm);
      await rm.close();
      const oldBytes = readFileSync(path);

      // The crashing process: its compaction stops dead at `step` (nothing after it runs).
      const crash = new Error(`crash at ${step}`);
      const journal = new FileRmJournal(path, {
        faultInjection: (at) => {
          if (at === step || (step === 'torn' && at === 'written')) {
            if (step === 'torn') truncateSync(journal.compactPath, Math.floor(readFileSync(journal.compactPath).length / 2));
            throw crash;
          }
        },
      });
      const crashing = new KvResourceManager({ name: 'bank', journal, compaction: false });
      await crashing.open();
      await expect(crashing.compact()).rejects.toBe(crash);

      // Either the old journal, byte for byte, or a complete new one — never neither or a mix.
      const now = readFileSync(path);
      const renamed = step === 'renamed';
      if (renamed) expect(now.length).toBeLessThan(oldBytes.length / 2);
      else expect(now.equals(oldBytes)).toBe(true);

      const recovered = new FileResourceManager({ name: 'bank', path });
      expect(await stateOf(recovered)).toEqual(before);
      expect(existsSync(`${path}.compact`)).toBe(false); // a left-over new file is removed
      await recovered.close();
    });
  }

  it('reads a journal whose compaction was never finished the same way again and again', async () => {
    const path = join(tempDir(), 'bank.journal');
    const rm = new FileResourceManager({ name: 'bank', path, compaction: false });
    await workload(rm, 20);
    const before = await stateOf(rm);
    await rm.close();
    writeFileSync(`${path}.compact`, '0000abcd {"t":"data","w":[["k1",'); // a torn new file
    for (let i = 0; i < 2; i++) {
      const again = new FileResourceManager({ name: 'bank', path });
      expect(await stateOf(again)).toEqual(before);
      await again.close();
    }
  });
});
