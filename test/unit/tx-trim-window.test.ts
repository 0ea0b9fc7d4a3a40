// The log must keep the commit record of every transaction that is still in doubt. One group-commit
// flush can carry a commit record and, after it, an end record: the end record's writer may trim
// the log before the commit record's writer has registered its decision (a few microtasks later),
// and must not trim that record away — a successor would presume abort for a transaction that
// one participant has already committed.
import { afterEach, describe, expect, it } from 'vitest';
import type { AppendResult, FencedOptions } from '../../src/contracts/storage.js';
import { decodeTxLogRecord } from '../../src/tx/log-record.js';
import { beginTransfer, startTwoNodes, type SimCluster } from '../fixtures/tx-sim-cluster.js';
import type { RmCall, TxId } from '../../src/tx/index.js';

let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** A gate a test opens when it chooses. */
class Latch {
  #open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.#open = resolve));
  open(): void {
    this.#open();
  }
}

const transfer = beginTransfer;

describe('TxManager: log trimming and commit records in flight', () => {
  it('does not trim away a commit record flushed with an end record before its decision is registered', async () => {
    const commitHeld = new Map<TxId, Latch>(); // n2's RM waits before committing these
    const commitFails = new Set<TxId>(); // n2's RM fails the commit of these
    const { c, n1, n2 } = await startTwoNodes(
      23,
      {
        tm: { recoveryIntervalMs: 600_000, rmTimeoutMs: 60_000 }, // no periodic trims, no time-outs
        rmFaults: {
          n2: async (call: RmCall, tx: TxId | undefined) => {
            if (call !== 'commit' || tx === undefined) return;
            await commitHeld.get(tx)?.opened;
            if (commitFails.has(tx)) throw new Error('n2 does not commit yet');
          },
        },
      },
      (cl) => (cluster = cl),
    );

    // Storage appends that carry an end record wait for `endsFlushed` while `holdEnds` is set.
    const storage = c.sharedStorage;
    const append = storage.append.bind(storage);
    let holdEnds = false;
    let endsHeld = false;
    const endsFlushed = new Latch();
    storage.append = async (stream: string, records: readonly Uint8Array[], options?: FencedOptions): Promise<AppendResult> => {
      if (holdEnds && records.some((r) => decodeTxLogRecord(r).t === 'end')) {
        endsHeld = true;
        await endsFlushed.opened;
      }
      return append(stream, records, options);
    };
    const info = (): Promise<{ start: number; end: number }> => storage.streamInfo('tx/log');

    // 60 records since the last trim: four more make the next end record's writer trim.
    for (let i = 0; (await info()).end - (await info()).start < 59; i++) {
      await c.run(n1.proxy.commit(await transfer(c, n1, n2, `fill${i}`)));
      await c.clock.advance(10); // its end record
    }
    expect((await info()).end - (await info()).start).toBe(60);

    // B: decided, its commit at n2 held, so its end record comes later.
    const b = await transfer(c, n1, n2, 'b');
    const heldB = new Latch();
    commitHeld.set(b, heldB);
    const commitB = n1.proxy.commit(b);
    expect(await c.until(() => n1.rm.outcomes().get(b) === 'committed', 1_000, 1)).toBe(true);

    // D: committed; its end record's storage write is held: the flush in flight.
    const d = await transfer(c, n1, n2, 'd');
    holdEnds = true;
    const commitD = n1.proxy.commit(d);
    expect(await c.until(() => endsHeld, 1_000, 1)).toBe(true);
    await c.run(commitD);

    // A: its commit record waits for the next flush; n2 will not commit A yet.
    const a = await transfer(c, n1, n2, 'a');
    commitFails.add(a);
    const commitA = n1.proxy.commit(a);
    expect(await c.until(() => n1.rm.inDoubt().includes(a) && n2.rm.inDoubt().includes(a), 1_000, 1)).toBe(true);
    await c.clock.advance(5);

    // B's end record joins the same flush, after A's commit record.
    heldB.open();
    expect(await c.until(() => n2.rm.outcomes().get(b) === 'committed', 1_000, 1)).toBe(true);
    await c.clock.advance(20);
    await c.run(commitB);

    // The flush: A's commit record, then B's end record.
    holdEnds = false;
    endsFlushed.open();
    expect(await c.until(() => n1.rm.outcomes().get(a) === 'committed', 1_000, 1)).toBe(true);
    await c.run(commitA);
    expect(n1.tm.status().inDoubt.map((t) => t.tx)).toEqual([a]);
    const log = await storage.readStream('tx/log', 0);
    const commitRecords = log.records.map((r) => decodeTxLogRecord(r.data)).filter((r) => r.t === 'commit' && r.tx === a);
    expect(commitRecords).toHaveLength(1); // the decision is still in the log

    // What the trimmed record costs: n1 dies; n2's manager finds A prepared at n2 and must commit it.
    n1.kill();
    commitFails.delete(a);
    expect(await c.until(() => n2.rm.outcomes().has(a), 10_000)).toBe(true);
    expect(n2.rm.outcomes().get(a)).toBe('committed');
    expect(await n2.rm.read('a')).toBe(2);
  });
});
