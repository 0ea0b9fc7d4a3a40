// An end record lets the manager forget a transaction and trim its commit record. If writing it
// fails, it is written again: otherwise the transaction stays in doubt for the rest of the epoch,
// and the log is never trimmed past its commit record.
import { afterEach, describe, expect, it } from 'vitest';
import { StorageUnavailableError } from '../../src/core/errors.js';
import type { AppendResult, FencedOptions } from '../../src/contracts/storage.js';
import { decodeTxLogRecord } from '../../src/tx/log-record.js';
import { beginTransfer, startTwoNodes, type SimCluster } from '../fixtures/tx-sim-cluster.js';

let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('TxManager: end records', () => {
  it('writes an end record again after its first write failed', async () => {
    // No periodic recovery pass: only the end record can take the transaction out of doubt.
    const { c, n1, n2 } = await startTwoNodes(23, { tm: { recoveryIntervalMs: 600_000 } }, (cl) => (cluster = cl));
    const storage = c.sharedStorage;
    const append = storage.append.bind(storage);
    let failures = 1;
    storage.append = async (stream: string, records: readonly Uint8Array[], options?: FencedOptions): Promise<AppendResult> => {
      if (failures > 0 && records.some((r) => decodeTxLogRecord(r).t === 'end')) {
        failures--;
        throw new StorageUnavailableError('append failed: disk full for a moment');
      }
      return append(stream, records, options);
    };
    const tx = await beginTransfer(c, n1, n2);
    await c.run(n1.proxy.commit(tx));
    expect(await c.until(() => failures === 0, 1_000)).toBe(true); // the first end record failed
    expect(await c.until(() => n1.tm.status().inDoubt.length === 0, 5_000)).toBe(true);
  });
});
