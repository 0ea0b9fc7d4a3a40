// What the manager and the proxy remember of finished and abandoned transactions is bounded, and
// forgetting it never changes an answer the protocol depends on.
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { onePhaseCommit as onePhase, rmRef as ref, startTwoNodes, type SimCluster, type SimNode, type SimNodeOptions } from '../fixtures/tx-sim-cluster.js';
import { TxManager, TxManagerProxy, type RmCall, type TxId } from '../../src/tx/index.js';

let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function twoNodes(options: SimNodeOptions): Promise<{ c: SimCluster; n1: SimNode; n2: SimNode }> {
  return startTwoNodes(5, options, (c) => (cluster = c));
}

describe('TxManager: outcomes of finished transactions (outcomeRetention)', () => {
  it('forgets the oldest outcomes beyond the limit and settles a question about one with its participants', async () => {
    const calls: [RmCall, TxId | undefined][] = [];
    const { c, n1 } = await twoNodes({ tm: { outcomeRetention: 2 }, rmFaults: { n1: (call, tx) => void calls.push([call, tx]) } });
    const txs: TxId[] = [];
    for (let i = 0; i < 5; i++) txs.push(await onePhase(c, n1, `k${i}`));
    const tm = n1.tm;
    calls.length = 0;
    // Remembered: answered at once.
    expect(await c.run(tm.outcome(txs[4]!, [ref('n1')]))).toBe('committed');
    expect(calls).toEqual([]);
    // Forgotten: the manager asks the participant, which remembers that it committed.
    expect(await c.run(tm.outcome(txs[0]!, [ref('n1')]))).toBe('committed');
    expect(calls).toEqual([['rollback', txs[0]]]);
    expect(await n1.rm.read('k0')).toBe(1);
  });

  it('never forgets a commit that a participant has not acknowledged, whatever the limit', async () => {
    let down = true;
    const { c, n1, n2 } = await twoNodes({
      tm: { outcomeRetention: 1 },
      rmFaults: {
        n2: (call) => {
          if (call === 'commit' && down) throw new Error('link down');
        },
      },
    });
    const tx = await c.run(n1.proxy.begin());
    await n1.rm.write(tx, 'a', 1);
    await n2.rm.write(tx, 'b', 1);
    await c.run(n1.proxy.enlist(tx, ref('n1')));
    await c.run(n1.proxy.enlist(tx, ref('n2')));
    await c.run(n1.proxy.commit(tx));
    for (let i = 0; i < 4; i++) await onePhase(c, n1, `later${i}`);
    // No participants named, and the outcome pushed out of memory: the in-doubt table answers.
    expect(await c.run(n1.tm.outcome(tx))).toBe('committed');
    expect(n1.tm.status().inDoubt.map((d) => d.tx)).toEqual([tx]);
    down = false;
    expect(await c.until(() => n2.rm.outcomes().get(tx) === 'committed', 5_000)).toBe(true);
  });

  it('validates outcomeRetention and maxPendingRollbacks', async () => {
    const { n1 } = await twoNodes({});
    const base = { transport: n1.transport, storage: n1.storage, resources: n1.host };
    for (const [option, value] of [
      ['outcomeRetention', 0],
      ['outcomeRetention', 2.5],
      ['maxPendingRollbacks', -1],
      ['maxPendingRollbacks', '10'],
    ] as const) {
      expect(() => new TxManager({ ...base, [option]: value } as never)).toThrow(InvalidArgumentError);
    }
  });
});

describe('TxManager: rollbacks that did not reach a participant (maxPendingRollbacks)', () => {
  it('keeps at most maxPendingRollbacks, retries them at recovery passes only, and delivers them when the participant is back', async () => {
    let down = true;
    let attempts = 0;
    const { c, n1, n2 } = await twoNodes({
      tm: { maxPendingRollbacks: 3, recoveryIntervalMs: 600, retryMs: 100 },
      rm: { branchTimeoutMs: 60_000 },
      rmFaults: {
        n2: (call) => {
          if (call !== 'rollback') return;
          attempts++;
          if (down) throw new Error('n2 unreachable');
        },
      },
    });
    const txs: TxId[] = [];
    for (let i = 0; i < 10; i++) {
      const tx = await c.run(n1.proxy.begin());
      await n1.rm.write(tx, `a${i}`, i);
      await n2.rm.write(tx, `b${i}`, i);
      await c.run(n1.proxy.enlist(tx, ref('n1')));
      await c.run(n1.proxy.enlist(tx, ref('n2')));
      await c.run(n1.proxy.rollback(tx)); // the application rolls back; n2 cannot be told
      txs.push(tx);
    }
    expect(n1.tm.status().pendingRollbacks).toBe(3);
    attempts = 0;
    await c.clock.advance(6_000); // ten recovery passes
    // One attempt per kept rollback and pass — not a retry loop per transaction.
    expect(attempts).toBeLessThanOrEqual(3 * 10);
    expect(n1.tm.status().pendingRollbacks).toBe(3);
    down = false;
    expect(await c.until(() => n1.tm.status().pendingRollbacks === 0, 2_000)).toBe(true);
    for (const tx of txs.slice(-3)) expect(n2.rm.outcomes().get(tx)).toBe('rolledBack');
    // The dropped ones: their open branches are rolled back by n2 itself once idle.
    await c.clock.advance(60_000);
    for (const tx of txs) expect(n2.rm.outcomes().get(tx)).toBe('rolledBack');
  });
});

describe('TxManagerProxy: participants of abandoned transactions (abandonAfterMs)', () => {
  it('forgets the participants of transactions abandoned for abandonAfterMs, and of finished ones at once', async () => {
    const { c, n1 } = await twoNodes({});
    const proxy = new TxManagerProxy({ transport: n1.transport, storage: n1.storage, clock: c.clock, local: n1.tm, abandonAfterMs: 10_000 });
    for (let i = 0; i < 20; i++) {
      const tx = await c.run(proxy.begin());
      await n1.rm.write(tx, `k${i}`, i);
      await c.run(proxy.enlist(tx, ref('n1'))); // … and the application forgets it
    }
    expect(proxy.trackedTransactions).toBe(20);
    await c.clock.advance(5_000);
    const kept = await c.run(proxy.begin());
    await c.run(proxy.enlist(kept, ref('n2')));
    await c.clock.advance(6_000);
    const tx = await onePhase(c, n1, 'x'); // through the node's own proxy
    expect(await c.run(proxy.outcome(tx, [ref('n1')]))).toBe('committed'); // asks without remembering
    const last = await c.run(proxy.begin());
    expect(proxy.trackedTransactions).toBe(2); // `kept` (used 6 s ago) and `last`
    await c.run(proxy.rollback(kept));
    await c.run(proxy.commit(last));
    expect(proxy.trackedTransactions).toBe(0);
    expect(() => new TxManagerProxy({ transport: n1.transport, storage: n1.storage, abandonAfterMs: 0 })).toThrow(InvalidArgumentError);
  });
});
