/**
 * FileStorage in one minute: records with compare-and-set, a durable stream, an atomic
 * transaction, a watch, and fencing a stale authority.
 *
 * Run: npx tsx examples/file-storage.ts   (after npm run build)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConflictError, FencedError, fromUtf8, raiseFence, utf8 } from 'nonstop';
import { FileStorage } from 'nonstop/storage/file';
import { MemoryStorage } from 'nonstop/storage/memory';

const directory = mkdtempSync(join(tmpdir(), 'nonstop-example-'));
// Two handles on one directory stand for two nodes sharing the cluster's storage.
const nodeA = new FileStorage({ directory });
const nodeB = new FileStorage({ directory, pollIntervalMs: 10 });
await nodeA.start();
await nodeB.start();

try {
  // Compare-and-set: only one of two racing writers can create the record.
  const version = await nodeA.put('config/cluster', utf8('{"members":["a","b"]}'), { expect: 'absent' });
  try {
    await nodeB.put('config/cluster', utf8('{"members":["b"]}'), { expect: 'absent' });
  } catch (err) {
    if (err instanceof ConflictError) console.log(`node B lost the race: ${err.message}`);
  }
  console.log(`node B reads version ${(await nodeB.get('config/cluster'))?.version} (node A wrote ${version})`);

  // Watch: node B sees node A's changes.
  const controller = new AbortController();
  const watched = (async () => {
    for await (const event of nodeB.watch('orders/', { signal: controller.signal })) {
      if (event.type === 'put') console.log(`node B saw ${event.record.key} = ${fromUtf8(event.record.value)}`);
      if (event.type === 'put' && event.record.key === 'orders/2') break;
    }
  })();

  // A transaction: both records and the queue entry, or nothing.
  await nodeA.transact([
    { op: 'put', key: 'orders/1', value: utf8('paid') },
    { op: 'put', key: 'orders/2', value: utf8('shipped') },
    { op: 'append', stream: 'queues/shipping', records: [utf8('order 2')] },
  ]);
  await watched;
  controller.abort();
  console.log(`shipping queue: ${(await nodeB.readStream('queues/shipping', 0)).records.map((r) => fromUtf8(r.data)).join(', ')}`);

  // Fencing: node A holds epoch 1; node B takes over with epoch 2; A's late write is refused.
  const a = await raiseFence(nodeA, 'tm/fence');
  const b = await raiseFence(nodeB, 'tm/fence', { from: a.epoch });
  await nodeB.append('tm/log', [utf8('decision by epoch 2')], { fence: { key: 'tm/fence', epoch: b.epoch } });
  try {
    await nodeA.append('tm/log', [utf8('late decision by epoch 1')], { fence: { key: 'tm/fence', epoch: a.epoch } });
  } catch (err) {
    if (err instanceof FencedError) console.log(`node A is fenced: ${err.message}`);
  }
  console.log(`TM log: ${(await nodeA.readStream('tm/log', 0)).records.map((r) => fromUtf8(r.data)).join(' | ')}`);

  // The same code runs on MemoryStorage (tests, simulations).
  const memory = new MemoryStorage();
  await memory.start();
  console.log(`memory storage: epoch ${(await raiseFence(memory, 'tm/fence')).epoch}`);
  await memory.close();
} finally {
  await nodeA.close();
  await nodeB.close();
  rmSync(directory, { recursive: true, force: true });
}
