import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import type { NodeId } from '../../src/core/ids.js';
import { beginTransfer, SimCluster, type SimNode, type SimNodeOptions } from '../fixtures/tx-sim-cluster.js';
import {
  TmNotActiveError,
  TxAbortedError,
  TxNotFoundError,
  TxStateError,
  type HeuristicReport,
  type ResourceRef,
  type TxId,
} from '../../src/tx/index.js';

const ref = (node: string): ResourceRef => ({ node: node as NodeId, rm: 'rm' });
let cluster: SimCluster | undefined;

async function twoNodes(options: SimNodeOptions = {}): Promise<{ c: SimCluster; n1: SimNode; n2: SimNode }> {
  const c = (cluster = new SimCluster(1, ['n1', 'n2'], options));
  await c.start();
  expect(await c.until(() => c.active() !== undefined, 5_000)).toBe(true);
  return { c, n1: c.node('n1'), n2: c.node('n2') };
}

const transfer = beginTransfer;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('TxManager: the protocol', () => {
  it('commits across two resource managers: one forced decision, then an end record, and nothing left in doubt', async () => {
    const { c, n1, n2 } = await twoNodes();
    const tx = await transfer(c, n1, n2);
    await c.run(n1.proxy.commit(tx));
    expect(await n1.rm.read('k')).toBe(1);
    expect(await n2.rm.read('k')).toBe(2);
    await c.clock.advance(100);
    const tm = c.active()!.tm;
    expect(tm.status().forcedWrites).toBe(2); // decision + end record
    expect(tm.status().inDoubt).toEqual([]);
    expect(tm.status().live).toEqual([]);
  });

  it('commits one participant in one phase without writing the log', async () => {
    const { c, n1 } = await twoNodes();
    const tx = await c.run(n1.proxy.begin());
    await n1.rm.write(tx, 'solo', 7);
    await c.run(n1.proxy.enlist(tx, ref('n1')));
    await c.run(n1.proxy.commit(tx));
    expect(await n1.rm.read('solo')).toBe(7);
    expect(c.active()!.tm.status().forcedWrites).toBe(0);
  });

  it('lets read-only branches skip phase two and logs nothing when all are read-only', async () => {
    const { c, n1, n2 } = await twoNodes();
    const tx = await c.run(n1.proxy.begin());
    await n1.rm.join(tx);
    await n2.rm.join(tx);
    await c.run(n1.proxy.enlist(tx, ref('n1')));
    await c.run(n1.proxy.enlist(tx, ref('n2')));
    await c.run(n1.proxy.commit(tx));
    expect(c.active()!.tm.status().forcedWrites).toBe(0);
    expect(n1.rm.outcomes().has(tx)).toBe(false);
  });

  it('rolls back on request and refuses a later commit with TxStateError', async () => {
    const { c, n1, n2 } = await twoNodes();
    const tx = await transfer(c, n1, n2);
    await c.run(n1.proxy.rollback(tx));
    await expect(c.run(n1.proxy.commit(tx))).rejects.toBeInstanceOf(TxStateError);
    expect(n1.rm.outcomes().get(tx)).toBe('rolledBack');
    expect(n2.rm.outcomes().get(tx)).toBe('rolledBack');
    expect(await n1.rm.read('k')).toBeUndefined();
  });

  it('rejects unknown and malformed transaction ids with typed errors', async () => {
    const { c, n1 } = await twoNodes();
    const epoch = c.active()!.tm.status().epoch!;
    await expect(c.run(n1.proxy.commit(`t${epoch}.999` as TxId))).rejects.toBeInstanceOf(TxNotFoundError);
    await expect(n1.proxy.commit('nonsense' as TxId)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(c.run(n1.proxy.enlist(`t${epoch}.999` as TxId, ref('n1')))).rejects.toBeInstanceOf(TxNotFoundError);
  });

  it('refuses to enlist after commit began or finished', async () => {
    const { c, n1, n2 } = await twoNodes();
    const tx = await transfer(c, n1, n2);
    await c.run(n1.proxy.commit(tx));
    await expect(c.run(n1.proxy.enlist(tx, ref('n2')))).rejects.toBeInstanceOf(TxStateError);
  });

  it('aborts when a resource manager throws on prepare, and applies nothing anywhere', async () => {
    const { c, n1, n2 } = await twoNodes({
      rmFaults: {
        n2: (call) => {
          if (call === 'prepare') throw new Error('disk full');
        },
      },
    });
    const tx = await transfer(c, n1, n2);
    await expect(c.run(n1.proxy.commit(tx))).rejects.toBeInstanceOf(TxAbortedError);
    await c.clock.advance(1_000);
    expect(n1.rm.outcomes().get(tx)).toBe('rolledBack');
    expect(n1.rm.inDoubt()).toEqual([]);
    expect(await n1.rm.read('k')).toBeUndefined();
    expect(await n2.rm.read('k')).toBeUndefined();
  });

  it('aborts when a resource manager hangs (time limit), and applies nothing', async () => {
    const hang = new Promise<void>(() => undefined);
    const { c, n1, n2 } = await twoNodes({ rmFaults: { n2: (call) => (call === 'prepare' ? hang : undefined) } });
    const tx = await transfer(c, n1, n2);
    await expect(c.run(n1.proxy.commit(tx))).rejects.toBeInstanceOf(TxAbortedError);
    await c.clock.advance(1_000);
    expect(n1.rm.outcomes().get(tx)).toBe('rolledBack');
    expect(await n1.rm.read('k')).toBeUndefined();
    expect(await n2.rm.read('k')).toBeUndefined();
  });

  it('rolls back a transaction that is not committed within its time limit', async () => {
    const { c, n1, n2 } = await twoNodes();
    const tx = await c.run(n1.proxy.begin({ timeoutMs: 500 }));
    await n2.rm.write(tx, 'late', 1);
    await c.run(n1.proxy.enlist(tx, ref('n2')));
    await c.clock.advance(1_000);
    expect(n2.rm.outcomes().get(tx)).toBe('rolledBack');
    await expect(c.run(n1.proxy.commit(tx))).rejects.toBeInstanceOf(TxAbortedError);
  });

  it('treats duplicate commit requests as harmless', async () => {
    const { c, n1, n2 } = await twoNodes();
    const tx = await transfer(c, n1, n2);
    await c.run(Promise.all([n1.proxy.commit(tx), n2.proxy.commit(tx), c.active()!.tm.commit(tx)]));
    await c.run(n1.proxy.commit(tx));
    expect(n1.rm.outcomes().get(tx)).toBe('committed');
    expect(n2.rm.outcomes().get(tx)).toBe('committed');
  });

  it('reports a heuristic decision through an event and status, and forgets it', async () => {
    let unreachable = true;
    const { c, n1, n2 } = await twoNodes({
      rmFaults: {
        n2: (call) => {
          if (call === 'commit' && unreachable) throw new Error('link down');
        },
      },
    });
    const reports: HeuristicReport[] = [];
    c.active()!.tm.on('heuristicOutcome', (r) => reports.push(r));
    const tx = await transfer(c, n1, n2);
    await c.run(n1.proxy.commit(tx));
    expect(c.active()!.tm.status().inDoubt.map((d) => d.tx)).toEqual([tx]);
    // n2 cannot be told to commit; an administrator decides its branch alone — wrongly.
    await n2.rm.heuristicDecide(tx, 'rolledBack');
    unreachable = false;
    expect(await c.until(() => reports.length > 0, 5_000)).toBe(true);
    expect(reports[0]).toMatchObject({ tx, rm: ref('n2'), decision: 'committed', outcome: 'rolledBack', matches: false });
    expect(c.active()!.tm.status().heuristics.length).toBeGreaterThan(0);
    await c.clock.advance(2_000);
    expect((await n2.rm.recover(c.active()!.tm.status().epoch!)).length).toBe(0); // forgotten
  });

  it('answers TmNotActiveError from a manager that is not the active one', async () => {
    const { c } = await twoNodes();
    const standby = c.nodes.find((n) => !n.tm.isActive)!;
    await expect(standby.tm.begin()).rejects.toBeInstanceOf(TmNotActiveError);
  });

  it('validates its options', async () => {
    const { n1 } = await twoNodes();
    const { TxManager } = await import('../../src/tx/index.js');
    expect(() => new TxManager({ transport: n1.transport, storage: n1.storage, resources: n1.host, leaseMs: -1 })).toThrow(/leaseMs/);
  });
});
