import { describe, expect, it } from 'vitest';
import { FencedError, StorageCorruptError } from '../../src/core/errors.js';
import type { Epoch, NodeId } from '../../src/core/ids.js';
import type { Storage } from '../../src/contracts/storage.js';
import { raiseFence } from '../../src/storage/fence.js';
import { MemoryStorage } from '../../src/storage/memory/index.js';
import { decodeTxLogRecord, encodeTxLogRecord, type TxLogRecord } from '../../src/tx/log-record.js';
import type { TxId } from '../../src/tx/index.js';
import { TxLog } from '../../src/tx/tx-log.js';

const commit: TxLogRecord = {
  t: 'commit',
  tx: 't3.17' as TxId,
  rms: [
    { node: 'n1' as NodeId, rm: 'bank-a' },
    { node: 'n2' as NodeId, rm: 'bank-b' },
  ],
};

describe('tx log records', () => {
  it('round-trip', () => {
    expect(decodeTxLogRecord(encodeTxLogRecord(commit))).toEqual(commit);
    const end: TxLogRecord = { t: 'end', txs: ['t3.17' as TxId, 't3.18' as TxId] };
    expect(decodeTxLogRecord(encodeTxLogRecord(end))).toEqual(end);
  });

  it('never decode when cut at any byte: a cut record cannot become a commit that was not forced', () => {
    const bytes = encodeTxLogRecord(commit);
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => decodeTxLogRecord(bytes.subarray(0, cut))).toThrow(StorageCorruptError);
    }
  });

  it('never decode with any single byte changed', () => {
    const bytes = encodeTxLogRecord(commit);
    for (let i = 0; i < bytes.length; i++) {
      const damaged = bytes.slice();
      damaged[i] = damaged[i]! ^ 0x04;
      expect(() => decodeTxLogRecord(damaged)).toThrow(StorageCorruptError);
    }
  });
});

describe('TxLog', () => {
  async function setup(): Promise<{ storage: MemoryStorage; epoch: Epoch }> {
    const storage = new MemoryStorage();
    await storage.start();
    const { epoch } = await raiseFence(storage, 'tx/fence');
    return { storage, epoch };
  }

  it('shares one storage write among concurrent appends (group commit)', async () => {
    const { storage, epoch } = await setup();
    let appends = 0;
    const slow = new Proxy(storage, {
      get(target, prop) {
        if (prop === 'append') {
          return async (...args: Parameters<Storage['append']>) => {
            appends++;
            await new Promise((r) => setTimeout(r, 5)); // a forced write takes time
            return target.append(...args);
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as () => unknown).bind(target) : v;
      },
    });
    const log = new TxLog(slow, 'tx/log', { key: 'tx/fence', epoch });
    const offsets = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append({ ...commit, tx: `t1.${i}` as TxId })));
    expect(offsets).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(appends).toBe(2); // the first alone, the other 49 together
    expect(log.forcedWrites).toBe(2);
    expect((await log.readAll()).map((r) => r.record)).toHaveLength(50);
  });

  it('rejects appends and trims of a deposed epoch with FencedError, atomically', async () => {
    const { storage, epoch } = await setup();
    const old = new TxLog(storage, 'tx/log', { key: 'tx/fence', epoch });
    await old.append(commit);
    await raiseFence(storage, 'tx/fence', { from: epoch });
    await expect(old.append({ ...commit, tx: 't1.2' as TxId })).rejects.toBeInstanceOf(FencedError);
    await expect(old.trim(1)).rejects.toBeInstanceOf(FencedError);
    expect((await storage.streamInfo('tx/log')).end).toBe(1);
  });
});
