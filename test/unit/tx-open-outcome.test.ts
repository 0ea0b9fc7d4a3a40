// A commit that ends with the outcome open (TxOutcomeUnknown) must never be answered 'aborted'
// later: the proxy keeps the participants for `outcome(tx)`, and the manager never presumes an
// abort for a transaction it does not remember when no participant is named — a one-phase commit
// leaves no commit record, so the absence of one proves nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { onePhaseCommit as onePhase, rmRef as ref, startTwoNodes, type SimCluster, type SimNode, type SimNodeOptions } from '../fixtures/tx-sim-cluster.js';
import { TxOutcomeUnknown, type RmCall } from '../../src/tx/index.js';

let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function twoNodes(options: SimNodeOptions): Promise<{ c: SimCluster; n1: SimNode; n2: SimNode }> {
  return startTwoNodes(17, options, (c) => (cluster = c));
}

/** What a call settles to: its value, 'unknown' for TxOutcomeUnknown, or the error. */
async function settle(c: SimCluster, call: Promise<unknown>): Promise<string> {
  return c.run(call).then(String, (err: unknown) => (err instanceof TxOutcomeUnknown ? 'unknown' : `error ${String(err)}`));
}

describe('TxManagerProxy: a commit whose outcome stays open', () => {
  it('keeps the participants, so outcome(tx) learns that the one-phase commit went through', async () => {
    // The one-phase commit reaches n2's RM but is slowed past the manager's time limit, and n2
    // answers nothing else (its rollbacks fail) until the proxy has given up: the proxy's commit
    // ends with TxOutcomeUnknown, while the RM has committed.
    let down = true;
    const { c, n1, n2 } = await twoNodes({
      tm: { outcomeRetention: 1_000 },
      rmFaults: {
        n2: async (call: RmCall) => {
          if (call === 'commit') await cluster!.clock.sleep(1_000); // then it commits (one-phase)
          else if (call === 'rollback' && down) throw new Error('n2 does not answer');
        },
      },
    });
    const tx = await c.run(n1.proxy.begin());
    await n2.rm.write(tx, 'alice', 90);
    await c.run(n1.proxy.enlist(tx, ref('n2')));
    await expect(c.run(n1.proxy.commit(tx))).rejects.toBeInstanceOf(TxOutcomeUnknown);
    expect(n2.rm.outcomes().get(tx)).toBe('committed');

    // The manager itself does not know: it never learnt the answer, and nobody names a participant.
    expect(await settle(c, n1.tm.outcome(tx))).toBe('unknown');
    expect(await settle(c, n1.tm.outcome(tx, []))).toBe('unknown'); // and nothing was remembered

    down = false;
    expect(await c.run(n1.proxy.outcome(tx))).toBe('committed'); // the proxy names n2
    expect(n1.proxy.trackedTransactions).toBe(1); // it kept the participants (until abandonAfterMs)
    expect(await c.run(n1.tm.outcome(tx))).toBe('committed'); // now remembered
    expect(await n2.rm.read('alice')).toBe(90);
  });
});

describe('TxManager: outcome without participants', () => {
  it('answers TxOutcomeUnknown, not aborted, for a transaction out of its recent outcomes', async () => {
    const { c, n1 } = await twoNodes({ tm: { outcomeRetention: 1 } });
    const a = await onePhase(c, n1, 'a');
    expect(await c.run(n1.tm.outcome(a, []))).toBe('committed'); // remembered
    await onePhase(c, n1, 'b'); // pushes `a` out of the manager's memory

    const asked = n1.tm.outcome(a, []);
    await expect(c.run(asked)).rejects.toBeInstanceOf(TxOutcomeUnknown);
    await expect(asked).rejects.toThrow(/pass its participants/);
    // Nor do a late commit or rollback without participants presume an abort.
    expect(await settle(c, n1.tm.commit(a, []))).toBe('unknown');
    expect(await settle(c, n1.tm.rollback(a, []))).toBe('unknown');
    // Nothing was remembered from that: with the participant named, the answer is right.
    expect(await c.run(n1.tm.outcome(a, [ref('n1')]))).toBe('committed');
    expect(await n1.rm.read('a')).toBe(1);
  });

  it('answers TxOutcomeUnknown, not aborted, for a one-phase transaction of an earlier epoch', async () => {
    const { c, n1, n2 } = await twoNodes({});
    const a = await onePhase(c, n1, 'a');
    n1.kill(); // n2's manager takes over: its memory starts empty, and `a` left no commit record
    expect(await c.until(() => n2.tm.isActive, 10_000)).toBe(true);
    expect(await settle(c, n2.tm.outcome(a))).toBe('unknown');
    expect(await settle(c, n2.proxy.outcome(a))).toBe('unknown'); // n2's proxy did not run it
  });
});
