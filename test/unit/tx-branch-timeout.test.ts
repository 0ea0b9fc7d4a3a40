// An open (unprepared) branch whose application or manager disappeared must not hold its locks
// forever: the resource manager rolls it back after `branchTimeoutMs` without work (presumed
// abort). Prepared branches never time out.
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import type { Epoch, NodeId } from '../../src/core/ids.js';
import { SimulatedClock } from '../../src/testing/simulated-clock.js';
import {
  MemoryResourceManager,
  MemoryRmJournal,
  TxAbortedError,
  TxConflictError,
  TxStateError,
  type ResourceRef,
  type TxId,
} from '../../src/tx/index.js';
import { SimCluster } from '../fixtures/tx-sim-cluster.js';

const e = (n: number): Epoch => n as Epoch;
const t = (s: string): TxId => s as TxId;

describe('KvResourceManager branch time-out', () => {
  it('rolls back an open branch idle for branchTimeoutMs, releases its locks, and refuses it afterwards', async () => {
    const clock = new SimulatedClock();
    const rm = new MemoryResourceManager('bank', { clock, branchTimeoutMs: 10_000 });
    await rm.write(t('t1.1'), 'a', 1);
    await rm.write(t('t1.2'), 'b', 1);
    await expect(rm.write(t('t1.9'), 'a', 9)).rejects.toBeInstanceOf(TxConflictError);
    await clock.advance(9_999);
    expect(rm.outcomes().has(t('t1.1'))).toBe(false); // not idle long enough yet
    await rm.write(t('t1.2'), 'b', 2); // work on t1.2 restarts its idle time
    await clock.advance(1);
    expect(rm.outcomes().get(t('t1.1'))).toBe('rolledBack');
    expect(rm.outcomes().has(t('t1.2'))).toBe(false);
    await rm.write(t('t1.9'), 'a', 9); // the lock is free
    // What the manager and the application see of the timed-out branch:
    await expect(rm.write(t('t1.1'), 'a', 2)).rejects.toBeInstanceOf(TxStateError);
    expect(await rm.prepare(t('t1.1'), e(1))).toBe('refused');
    expect(await rm.commit(t('t1.1'), e(1), { onePhase: true })).toEqual({ outcome: 'rolledBack', heuristic: false });
    expect(await rm.rollback(t('t1.1'), e(1))).toEqual({ outcome: 'rolledBack', heuristic: false });
    // The rollback is journaled: a restarted RM refuses the branch too.
    const again = new MemoryResourceManager('bank', { journal: rm.journal, clock });
    expect((await again.entries()).size).toBe(0);
    expect(again.outcomes().get(t('t1.1'))).toBe('rolledBack');
    await clock.advance(10_000);
    expect(rm.outcomes().get(t('t1.2'))).toBe('rolledBack');
  });

  it('never times out a prepared branch: it stays in doubt, with its locks, until the manager decides', async () => {
    const clock = new SimulatedClock();
    const rm = new MemoryResourceManager('bank', { clock, branchTimeoutMs: 1_000 });
    await rm.write(t('t1.1'), 'a', 1);
    expect(await rm.prepare(t('t1.1'), e(1))).toBe('prepared');
    await clock.advance(60_000);
    expect(rm.inDoubt()).toEqual(['t1.1']);
    await expect(rm.write(t('t1.2'), 'a', 2)).rejects.toBeInstanceOf(TxConflictError);
    expect(await rm.commit(t('t1.1'), e(1))).toEqual({ outcome: 'committed', heuristic: false });
    expect(await rm.read('a')).toBe(1);
    expect(clock.pendingTimers).toBe(0); // no timer left behind
  });

  it('a branch that is joined but never written times out too, and close() stops every timer', async () => {
    const clock = new SimulatedClock();
    const rm = new MemoryResourceManager('bank', { clock, branchTimeoutMs: 1_000 });
    await rm.join(t('t1.1'));
    await clock.advance(1_000);
    expect(rm.outcomes().get(t('t1.1'))).toBe('rolledBack');
    await rm.write(t('t1.2'), 'a', 1);
    expect(clock.pendingTimers).toBe(1);
    await rm.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('refuses a one-phase commit of a branch it does not know (its work was lost in a restart), as it refuses prepare', async () => {
    const journal = new MemoryRmJournal();
    const before = new MemoryResourceManager('bank', { journal });
    await before.write(t('t1.1'), 'a', 1); // staged only: not durable
    await before.close();
    const after = new MemoryResourceManager('bank', { journal });
    expect(await after.commit(t('t1.1'), e(1), { onePhase: true })).toEqual({ outcome: 'rolledBack', heuristic: false });
    expect(await after.read('a')).toBeUndefined();
    expect(after.outcomes().get(t('t1.1'))).toBe('rolledBack');
  });

  it('validates branchTimeoutMs, outcomeRetention, compaction and clock with InvalidArgumentError', () => {
    const bad: [string, Record<string, unknown>][] = [
      ['branchTimeoutMs', { branchTimeoutMs: 0 }],
      ['branchTimeoutMs', { branchTimeoutMs: -5 }],
      ['branchTimeoutMs', { branchTimeoutMs: Number.NaN }],
      ['branchTimeoutMs', { branchTimeoutMs: Number.POSITIVE_INFINITY }],
      ['branchTimeoutMs', { branchTimeoutMs: '60000' }],
      ['outcomeRetention', { outcomeRetention: 0 }],
      ['outcomeRetention', { outcomeRetention: 1.5 }],
      ['compaction', { compaction: 'yes' }],
      ['compaction.ratio', { compaction: { ratio: 1 } }],
      ['compaction.minRecords', { compaction: { minRecords: -1 } }],
      ['clock', { clock: {} }],
    ];
    for (const [option, options] of bad) {
      let error: unknown;
      try {
        new MemoryResourceManager('bank', options as never);
      } catch (err) {
        error = err;
      }
      expect(error, option).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).option).toBe(option);
    }
    expect(() => new MemoryResourceManager('bank', { branchTimeoutMs: 1, outcomeRetention: 1, compaction: false })).not.toThrow();
  });
});

describe('branch time-out with a manager that disappeared', () => {
  let cluster: SimCluster | undefined;
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  it('frees the keys of a transaction whose manager died before prepare (no one else ever rolls it back)', async () => {
    const c = (cluster = new SimCluster(3, ['n1', 'n2'], { rm: { branchTimeoutMs: 20_000 }, tm: { txTimeoutMs: 600_000 } }));
    await c.start();
    expect(await c.until(() => c.active() !== undefined, 5_000)).toBe(true);
    const active = c.active()!;
    const other = c.nodes.find((n) => n !== active)!;
    const ref: ResourceRef = { node: other.id as NodeId, rm: 'rm' };
    const tx = await c.run(other.proxy.begin());
    await other.rm.write(tx, 'seat-12A', 'alice');
    await c.run(other.proxy.enlist(tx, ref));
    active.kill(); // the manager dies; the application abandons the transaction
    expect(await c.until(() => other.tm.isActive, 10_000)).toBe(true);
    await c.clock.advance(10_000); // the new manager's recovery passes leave an open branch alone
    const blocked = await c.run(other.proxy.begin());
    await expect(other.rm.write(blocked, 'seat-12A', 'bob')).rejects.toBeInstanceOf(TxConflictError);
    await c.clock.advance(20_000);
    expect(other.rm.outcomes().get(tx)).toBe('rolledBack');
    const retry = await c.run(other.proxy.begin());
    await other.rm.write(retry, 'seat-12A', 'bob');
    await c.run(other.proxy.enlist(retry, ref));
    await c.run(other.proxy.commit(retry));
    expect(await other.rm.read('seat-12A')).toBe('bob');
    // The abandoned transaction's late commit is refused by its participant: the manager aborts it.
    await expect(c.run(other.proxy.commit(tx))).rejects.toBeInstanceOf(TxAbortedError);
  });
});
