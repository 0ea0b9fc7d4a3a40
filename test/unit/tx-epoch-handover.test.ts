// A manager that loses its epoch and wins the next one (its storage was unreachable for longer
// than the lease) still has work of the old epoch under way. What that work learns late must not
// change the new epoch's state: here, the old epoch's phase two hears the last acknowledgement of a
// transaction that the new epoch's recovery is committing again.
import { afterEach, describe, expect, it } from 'vitest';
import { StorageUnavailableError } from '../../src/core/errors.js';
import type { NodeId } from '../../src/core/ids.js';
import type { Storage } from '../../src/contracts/storage.js';
import { MemoryStorage } from '../../src/storage/memory/index.js';
import { MemoryNetwork } from '../../src/transport/memory/index.js';
import { SimulatedClock } from '../../src/testing/simulated-clock.js';
import { MemoryResourceManager, ResourceHost, TxManager, type RmCall, type TxId } from '../../src/tx/index.js';

let closing: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closing?.();
  closing = undefined;
});

/** A gate a test opens when it chooses. */
class Latch {
  #open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.#open = resolve));
  open(): void {
    this.#open();
  }
}

async function until(clock: SimulatedClock, done: () => boolean, limitMs = 10_000): Promise<boolean> {
  for (let t = 0; t <= limitMs && !done(); t += 10) await clock.advance(10);
  return done();
}

describe('TxManager: the same node loses its epoch and wins the next one', () => {
  it("writes the end record of a transaction whose last acknowledgement reaches the old epoch's phase two", async () => {
    const clock = new SimulatedClock();
    const shared = new MemoryStorage();
    await shared.start();
    let down = false; // reads of the storage fail (the lease cannot be renewed)
    const storage = new Proxy(shared, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (prop === 'get') {
          return (...args: Parameters<Storage['get']>) => (down ? Promise.reject(new StorageUnavailableError('storage down')) : target.get(...args));
        }
        return typeof v === 'function' ? (v as () => unknown).bind(target) : v;
      },
    }) as Storage;
    const network = new MemoryNetwork({ clock, seed: 5 });
    const transport = network.transport('n1' as NodeId);
    await transport.start();

    let tx: TxId | undefined;
    const held = new Latch(); // b's first commit of tx waits for it
    let first = true;
    const a = new MemoryResourceManager('a', { clock });
    const b = new MemoryResourceManager('b', {
      clock,
      faultInjection: async (call: RmCall, t: TxId | undefined) => {
        if (call === 'commit' && t === tx && first) {
          first = false;
          await held.opened;
        }
      },
    });
    const host = new ResourceHost({ transport, storage, clock });
    await host.add(a);
    await host.add(b);
    const tm = new TxManager({ transport, storage, resources: host, clock, leaseMs: 900, rmTimeoutMs: 60_000, retryMs: 100, recoveryIntervalMs: 600_000 });
    const lost: number[] = [];
    tm.on('tmLost', (info) => lost.push(info.epoch));
    closing = async () => {
      await tm.close();
      await transport.close();
    };
    await tm.start();
    expect(await until(clock, () => tm.isActive)).toBe(true);
    expect(tm.status().epoch).toBe(1);

    tx = await tm.begin();
    await a.write(tx, 'k', 1);
    await b.write(tx, 'k', 2);
    await tm.enlist(tx, { node: 'n1', rm: 'a' });
    await tm.enlist(tx, { node: 'n1', rm: 'b' });
    const committed = tm.commit(tx); // decided; a commits, b's commit waits
    expect(await until(clock, () => a.outcomes().get(tx!) === 'committed')).toBe(true);

    // Epoch 1 is lost, and the same node takes epoch 2; its recovery commits tx again.
    down = true;
    expect(await until(clock, () => lost.includes(1))).toBe(true);
    down = false;
    expect(await until(clock, () => tm.isActive && tm.status().epoch === 2)).toBe(true);
    expect(tm.status().inDoubt.map((d) => d.tx)).toEqual([tx]);

    // b commits for epoch 1 (then answers epoch 2's commit); both phases two hear it.
    held.open();
    expect(await until(clock, () => b.outcomes().get(tx!) === 'committed')).toBe(true);
    await committed;
    await clock.advance(1_000);
    expect(tm.status().inDoubt).toEqual([]); // the end record was written: the log can be trimmed past tx
  });
});
