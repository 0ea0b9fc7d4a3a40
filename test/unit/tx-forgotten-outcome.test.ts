// A resource manager forgets the outcomes of old branches (outcomeRetention), but never passes a
// forgotten branch off as an unknown one: below its durable "forgotten horizon", rollback and
// one-phase commit of a branch it does not know claim no outcome (TxOutcomeForgottenError), and
// the manager turns that into TxOutcomeUnknown for a question — never 'aborted' — and into a
// finished rollback when it aborts a transaction itself.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Epoch, NodeId } from '../../src/core/ids.js';
import { onePhaseCommit as onePhase, rmRef as ref, startTwoNodes, type SimCluster, type SimNode, type SimNodeOptions } from '../fixtures/tx-sim-cluster.js';
import {
  FileResourceManager,
  KvResourceManager,
  MemoryResourceManager,
  MemoryRmJournal,
  TxOutcomeForgottenError,
  TxOutcomeUnknown,
  type ResourceRef,
  type RmCall,
  type TxId,
} from '../../src/tx/index.js';

const e = (n: number): Epoch => n as Epoch;
const t = (s: string): TxId => s as TxId;

const dirs: string[] = [];
let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * One-phase-commits `t1.2` (A), then finishes `t1.3` … `t1.6`: with `outcomeRetention: 3` the RM
 * forgets A, then `t1.3` (the forgotten horizon).
 */
async function forgetA(rm: KvResourceManager): Promise<TxId> {
  const a = t('t1.2');
  await rm.write(a, 'alice', 90);
  expect(await rm.commit(a, e(1), { onePhase: true })).toEqual({ outcome: 'committed', heuristic: false });
  for (let i = 3; i <= 6; i++) {
    await rm.write(t(`t1.${i}`), `k${i}`, i);
    await rm.commit(t(`t1.${i}`), e(1), { onePhase: true });
  }
  expect(rm.outcomes().has(a)).toBe(false); // forgotten
  expect(rm.forgottenHorizon).toBe('t1.3');
  return a;
}

describe('KvResourceManager: the forgotten horizon', () => {
  it('answers rollback and one-phase commit of a forgotten branch with TxOutcomeForgottenError, and records nothing', async () => {
    const journal = new MemoryRmJournal();
    const rm = new MemoryResourceManager('bank', { journal, outcomeRetention: 3, compaction: false });
    expect(rm.forgottenHorizon).toBeUndefined();
    const a = await forgetA(rm);
    const records = (await journal.load()).length;

    const asked = rm.rollback(a, e(2)); // a new manager asks how A ended
    await expect(asked).rejects.toBeInstanceOf(TxOutcomeForgottenError);
    await expect(asked).rejects.toMatchObject({ code: 'ERR_TX_OUTCOME_FORGOTTEN', retryable: false, tx: a });
    await expect(rm.commit(a, e(2), { onePhase: true })).rejects.toBeInstanceOf(TxOutcomeForgottenError); // a retransmission
    await expect(rm.rollback(a, e(2))).rejects.toBeInstanceOf(TxOutcomeForgottenError); // still: nothing was recorded
    expect(rm.outcomes().has(a)).toBe(false);
    expect((await journal.load()).slice(records)).toEqual([{ t: 'epoch', e: 2 }]); // only the new epoch (B1)
    expect(await rm.read('alice')).toBe(90);

    // Above the horizon (ordered by epoch, then sequence number — t1.10 comes after t1.3), an
    // unknown branch is one the RM never finished: rolled back and recorded, as before.
    for (const unknown of [t('t1.10'), t('t2.1')]) {
      expect(await rm.rollback(unknown, e(2))).toEqual({ outcome: 'rolledBack', heuristic: false });
      expect(rm.outcomes().get(unknown)).toBe('rolledBack');
    }
    expect(await rm.commit(t('t2.2'), e(2), { onePhase: true })).toEqual({ outcome: 'rolledBack', heuristic: false });
  });

  it('lets a long-running transaction below the horizon do its first write, prepare and commit', async () => {
    const rm = new MemoryResourceManager('bank', { outcomeRetention: 3, compaction: false });
    await forgetA(rm);
    const old = t('t1.1'); // begun before A, first work here only now
    await rm.write(old, 'bob', 10);
    expect(await rm.prepare(old, e(1))).toBe('prepared');
    expect(await rm.commit(old, e(1))).toEqual({ outcome: 'committed', heuristic: false });
    expect(await rm.read('bob')).toBe(10);
    // Open branches below the horizon are known: rolled back normally.
    const open = t('t1.0');
    await rm.join(open);
    expect(await rm.rollback(open, e(1))).toEqual({ outcome: 'rolledBack', heuristic: false });
  });

  it('keeps the horizon through compaction and a restart of a FileRmJournal-backed RM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nonstop-horizon-'));
    dirs.push(dir);
    const path = join(dir, 'bank.journal');
    const rm = new FileResourceManager({ name: 'bank', path, outcomeRetention: 3, compaction: false });
    const a = await forgetA(rm);
    await rm.compact(); // the forgotten outcomes leave the journal; the horizon must not
    await rm.close();
    expect(readFileSync(path, 'utf8')).toContain('{"t":"horizon","tx":"t1.3"}');

    // Reopened — also with a larger retention, which would forget nothing by itself.
    for (const outcomeRetention of [3, 1_000]) {
      const again = new FileResourceManager({ name: 'bank', path, outcomeRetention, compaction: false });
      await again.open();
      expect(again.forgottenHorizon).toBe('t1.3');
      await expect(again.rollback(a, e(2))).rejects.toBeInstanceOf(TxOutcomeForgottenError);
      await expect(again.commit(a, e(2), { onePhase: true })).rejects.toBeInstanceOf(TxOutcomeForgottenError);
      expect(again.outcomes().has(a)).toBe(false);
      await again.compact(); // compacting again keeps it
      await again.close();
    }
    const last = new FileResourceManager({ name: 'bank', path, compaction: false });
    await last.open();
    expect(last.forgottenHorizon).toBe('t1.3');
    await last.close();
  });

  it('reads a journal without a horizon record as "nothing forgotten"', async () => {
    const journal = new MemoryRmJournal();
    await journal.append([
      { t: 'epoch', e: 1 },
      { t: 'data', w: [['alice', 90]] },
      { t: 'outcomes', o: [['t1.5', 'c']] },
    ]);
    const rm = new MemoryResourceManager('bank', { journal, outcomeRetention: 3 });
    await rm.open();
    expect(rm.forgottenHorizon).toBeUndefined();
    expect(await rm.rollback(t('t1.1'), e(1))).toEqual({ outcome: 'rolledBack', heuristic: false });
    expect(await rm.rollback(t('t1.5'), e(1))).toEqual({ outcome: 'committed', heuristic: false });
  });
});

describe('TxManager: participants that forgot an outcome', () => {
  const twoNodes = (options: SimNodeOptions): Promise<{ c: SimCluster; n1: SimNode; n2: SimNode }> =>
    startTwoNodes(11, options, (c) => (cluster = c));


  it('answers an outcome question about a forgotten one-phase commit with TxOutcomeUnknown, never aborted', async () => {
    // The RM is on n2, the manager on n1: the RM's error crosses the transport.
    const { c, n1, n2 } = await twoNodes({ tm: { outcomeRetention: 1 }, rm: { outcomeRetention: 3 } });
    const a = await onePhase(c, n2, 'alice');
    for (let i = 0; i < 4; i++) await onePhase(c, n2, `later${i}`);
    expect(n2.rm.outcomes().has(a)).toBe(false); // n2 forgot A, and so did the manager

    const answers: string[] = [];
    for (const ask of [() => n1.tm.outcome(a, [ref('n2')]), () => n1.proxy.outcome(a, [ref('n2')]), () => n2.proxy.outcome(a, [ref('n2')])]) {
      const answer = await c.run(ask()).then(String, (err: unknown) => (err instanceof TxOutcomeUnknown ? 'unknown' : `error ${String(err)}`));
      answers.push(answer);
    }
    expect(answers).toEqual(['unknown', 'unknown', 'unknown']);
    // A late commit of A that names its participant is unknown too, and nothing was recorded at n2.
    await expect(c.run(n1.tm.commit(a, [ref('n2')]))).rejects.toBeInstanceOf(TxOutcomeUnknown);
    expect(n2.rm.outcomes().has(a)).toBe(false);
    expect(await n2.rm.read('alice')).toBe(1);
  });

  it('answers committed when another participant remembers the commit', async () => {
    const { c, n1, n2 } = await twoNodes({ tm: { outcomeRetention: 1 }, rm: { outcomeRetention: 3 } });
    const x = await c.run(n1.proxy.begin());
    await n1.rm.write(x, 'a', 1);
    await n2.rm.write(x, 'b', 1);
    await c.run(n1.proxy.enlist(x, ref('n1')));
    await c.run(n1.proxy.enlist(x, ref('n2')));
    await c.run(n1.proxy.commit(x));
    for (let i = 0; i < 4; i++) await onePhase(c, n2, `later${i}`);
    await c.clock.advance(1_000); // the end record: the manager's in-doubt table no longer holds x
    expect(n2.rm.outcomes().has(x)).toBe(false);
    expect(n1.rm.outcomes().get(x)).toBe('committed');
    expect(await c.run(n1.tm.outcome(x, [ref('n2'), ref('n1')]))).toBe('committed');
  });

  it('finishes aborting a live transaction whose participant answers forgotten, without retrying it', async () => {
    const rollbacks: TxId[] = [];
    const { c, n1, n2 } = await twoNodes({
      tm: { txTimeoutMs: 60_000 },
      rm: { outcomeRetention: 3, branchTimeoutMs: 120_000 },
      rmFaults: { n2: (call: RmCall, tx) => void (call === 'rollback' && tx && rollbacks.push(tx)) },
    });
    const long = await c.run(n1.proxy.begin()); // a long-running transaction …
    await n1.rm.write(long, 'a', 1);
    await c.run(n1.proxy.enlist(long, ref('n1')));
    await c.run(n1.proxy.enlist(long, ref('n2'))); // … enlisted at n2, which has no work of it (yet)
    for (let i = 0; i < 5; i++) await onePhase(c, n2, `later${i}`);
    expect(n2.rm.forgottenHorizon).toBeDefined(); // n2's horizon passed `long`

    await c.run(n1.proxy.rollback(long));
    expect(rollbacks.filter((tx) => tx === long)).toHaveLength(1);
    expect(n2.rm.outcomes().has(long)).toBe(false); // n2 answered forgotten, and recorded nothing
    expect(n1.rm.outcomes().get(long)).toBe('rolledBack');
    expect(n1.tm.status().pendingRollbacks).toBe(0);
    await c.clock.advance(6_000); // ten recovery passes
    expect(rollbacks.filter((tx) => tx === long)).toHaveLength(1); // never retried
    expect(n1.tm.status().pendingRollbacks).toBe(0);
    expect(n1.tm.status().live).toEqual([]);
  });
});
