import { afterEach, describe, expect, it } from 'vitest';
import { EventEmitter } from '../../src/core/events.js';
import type { NodeId } from '../../src/core/ids.js';
import { SimCluster, type SimNode, type SimNodeOptions } from '../fixtures/tx-sim-cluster.js';
import { decodeTxLogRecord } from '../../src/tx/log-record.js';
import { StaleEpochError, TxAbortedError, type RecoveryReport, type ResourceRef, type TxId } from '../../src/tx/index.js';

const ref = (node: string): ResourceRef => ({ node: node as NodeId, rm: 'rm' });
let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function threeNodes(options: SimNodeOptions = {}): Promise<SimCluster> {
  const c = (cluster = new SimCluster(7, ['n1', 'n2', 'n3'], options));
  await c.start();
  expect(await c.until(() => c.active() !== undefined, 5_000)).toBe(true);
  return c;
}

/** A transaction begun through `via` that writes at the two nodes other than the active one's. */
async function prepareWork(c: SimCluster, via: SimNode, parts: readonly SimNode[]): Promise<TxId> {
  const tx = await c.run(via.proxy.begin());
  for (const p of parts) {
    await p.rm.write(tx, 'k', p.id);
    await c.run(via.proxy.enlist(tx, ref(p.id)));
  }
  return tx;
}

function crashOnce(c: SimCluster): void {
  let done = false;
  const kill = c.crash;
  c.crash = (node) => {
    if (done) return;
    done = true;
    kill(node);
  };
}

describe('TxManager failover', () => {
  it('elects one manager, and another with a higher epoch when its node dies', async () => {
    const c = await threeNodes();
    const first = c.active()!;
    const epoch = first.tm.status().epoch!;
    first.kill();
    expect(await c.until(() => c.active() !== undefined, 5_000)).toBe(true);
    expect(c.active()!.tm.status().epoch).toBe(epoch + 1);
    const survivor = c.nodes.find((n) => n.alive)!;
    const tx = await c.run(survivor.proxy.begin());
    expect(tx.startsWith(`t${epoch + 1}.`)).toBe(true);
  });

  it('takes over at once when told that the active node failed (no lease wait)', async () => {
    const c = await threeNodes({ tm: { leaseMs: 30_000 } });
    const first = c.active()!;
    const t0 = c.clock.now();
    first.kill();
    for (const n of c.nodes) if (n.alive) n.tm.nodeFailed(first.id);
    expect(await c.until(() => c.active() !== undefined, 30_000, 10)).toBe(true);
    expect(c.clock.now() - t0).toBeLessThan(1_000);
  });

  it('takes over at once on a nodeFailed event from a failure source such as a RingMonitor', async () => {
    const ring = new EventEmitter<{ nodeFailed: [node: NodeId] }>();
    const c = await threeNodes({ tm: { leaseMs: 30_000, failures: ring } });
    const first = c.active()!;
    const t0 = c.clock.now();
    first.kill();
    ring.emit('nodeFailed', first.id);
    expect(await c.until(() => c.active() !== undefined, 30_000, 10)).toBe(true);
    expect(c.clock.now() - t0).toBeLessThan(1_000);
  });

  it('crash after the decision: the new manager commits, and the proxy learns the outcome', async () => {
    const c = await threeNodes({ crashAt: 'afterDecision' });
    crashOnce(c);
    const reports: RecoveryReport[] = [];
    for (const n of c.nodes) n.tm.on('recoveryDone', (r) => reports.push(r));
    const active = c.active()!;
    const others = c.nodes.filter((n) => n !== active);
    const tx = await prepareWork(c, others[0]!, others);
    await c.run(others[0]!.proxy.commit(tx)); // resolves: the new manager answers from the log
    await c.until(() => others.every((n) => n.rm.outcomes().get(tx) === 'committed'), 10_000);
    for (const n of others) expect(n.rm.outcomes().get(tx)).toBe('committed');
    expect(reports.some((r) => r.committed >= 1)).toBe(true);
  });

  it('crash before the decision: presumed abort rolls every participant back', async () => {
    const c = await threeNodes({ crashAt: 'beforeDecision' });
    crashOnce(c);
    const active = c.active()!;
    const others = c.nodes.filter((n) => n !== active);
    const tx = await prepareWork(c, others[0]!, others);
    await expect(c.run(others[0]!.proxy.commit(tx))).rejects.toBeInstanceOf(TxAbortedError);
    await c.until(() => others.every((n) => n.rm.inDoubt().length === 0), 10_000);
    for (const n of others) expect(n.rm.outcomes().get(tx)).toBe('rolledBack');
  });

  it('a zombie manager (paused past its lease) is fenced: its log writes and RM calls are rejected', async () => {
    const c = await threeNodes({ crashAt: 'beforeDecision' });
    let zombie: SimNode | undefined;
    c.crash = (node) => {
      if (zombie) return;
      zombie = node;
      node.pause(); // SIGSTOP right before forcing the decision
    };
    const lost: string[] = [];
    for (const n of c.nodes) n.tm.on('tmLost', (l) => lost.push(l.node));
    const active = c.active()!;
    const others = c.nodes.filter((n) => n !== active);
    const tx = await prepareWork(c, others[0]!, others);
    const commit = others[0]!.proxy.commit(tx).then(
      () => 'committed',
      (err: unknown) => (err instanceof TxAbortedError ? 'aborted' : String(err)),
    );
    expect(await c.until(() => c.nodes.some((n) => n !== zombie && n.tm.isActive), 10_000)).toBe(true);
    expect(await c.run(commit)).toBe('aborted');
    zombie!.resume(); // SIGCONT: its pending decision write is fenced, it steps down
    await c.clock.advance(3_000);
    expect(lost).toContain(zombie!.id);
    // The zombie's decision never reached the log: the fenced append failed atomically.
    const log = await c.sharedStorage.readStream('tx/log', 0);
    expect(log.records.map((r) => decodeTxLogRecord(r.data)).filter((r) => r.t === 'commit' && r.tx === tx)).toEqual([]);
    for (const n of others) expect(n.rm.outcomes().get(tx)).toBe('rolledBack');
    const oldEpoch = c.activations.find((a) => a.node === zombie!.id)!.epoch;
    await expect(others[0]!.rm.prepare('t1.999' as TxId, oldEpoch as never)).rejects.toBeInstanceOf(StaleEpochError);
  });
});
