/**
 * Money transfers across two durable resource managers on three node processes, with the active
 * transaction manager's node killed (SIGKILL) mid-run; afterwards the totals are checked.
 *
 * - `n1`, `n2`, `n3` each run a TxManager candidate, a proxy and a FileResourceManager, over a
 *   shared FileStorage directory and the authenticated TCP transport.
 * - `n2` holds Alice's account (bank `bank`), `n3` holds Bob's; `n3` also runs the client, which
 *   moves money from Alice to Bob in transactions.
 * - `n1` starts first, so its manager becomes the active one; after a few transfers the example
 *   kills `n1`. Another node takes over (fencing the old epoch), recovers from the log, and the
 *   client's proxy finds it by itself. At the end Alice + Bob must still hold 2,000, and the
 *   independent checker from `nonstop/testing` confirms every transaction's invariants from what
 *   the client was told and what the two banks' journals hold.
 *
 * Run: `npx tsx examples/money-transfer.ts`
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decodeJson,
  encodeJson,
  FileResourceManager,
  FileRmJournal,
  KvResourceManager,
  nodeId,
  ResourceHost,
  TxAbortedError,
  TxManager,
  TxManagerProxy,
  txId,
  type FileResourceManagerOptions,
  type FileRmJournalOptions,
  type NodeAddress,
  type TxId,
} from 'nonstop';
import { FileStorage } from 'nonstop/storage/file';
import {
  checkTxHistory,
  type AcknowledgedTx,
  type CheckedBranchOutcome,
  type CheckedResource,
  type TxHistory,
  type TxViolation,
} from 'nonstop/testing';
import { TcpTransport } from 'nonstop/transport/tcp';

const START_BALANCE = 1_000;
const TRANSFERS = 30;

if (process.argv[2] === 'node') await runNode(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else await runExample();

/** The parent: starts the three nodes, kills the active manager's node mid-run, checks the totals. */
async function runExample(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nonstop-money-'));
  const secret = randomBytes(32).toString('hex');
  const children = new Map<string, ChildProcess>();
  let movedTotal = Number.NaN;
  const acknowledged: AcknowledgedTx[] = []; // what the client was told, for the checker
  const start = (name: string, onLine: (line: string) => void = () => undefined): Promise<void> =>
    new Promise((ready) => {
      const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'node', name, dir, secret], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.set(name, child);
      let partial = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        partial += chunk;
        for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          console.log(`  [${name}] ${line}`);
          if (line === 'ready') ready();
          onLine(line);
        }
      });
    });
  try {
    console.log('starting n1 (its transaction manager becomes the active one), then n2 and n3');
    await start('n1');
    await new Promise((r) => setTimeout(r, 500));
    await start('n2');
    let killed = false;
    let moved = Number.NaN;
    const finished = new Promise<void>((resolve) => {
      void start('n3', (line) => {
        const ack = /^ack (\S+) (committed|aborted|unknown)$/.exec(line);
        if (ack) acknowledged.push({ tx: ack[1]!, outcome: ack[2] as AcknowledgedTx['outcome'], participants: ['n2', 'n3'] });
        if (!killed && line.startsWith('transfer 5 ')) {
          killed = true;
          console.log('>>> killing n1 (SIGKILL) while transfers are running');
          children.get('n1')!.kill('SIGKILL');
        }
        if (line.startsWith('finished')) {
          moved = Number(/moved (\d+)/.exec(line)?.[1]);
          resolve();
        }
      });
    });
    await finished;
    movedTotal = moved;
  } finally {
    for (const child of children.values()) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1_000));
    for (const child of children.values()) child.kill('SIGKILL');
  }
  // Read the durable journals of both banks, run the independent checker, and check the totals.
  const resources: { [node: string]: CheckedResource } = {};
  const balance = async (node: string, account: string): Promise<number> => {
    const journalOptions: FileRmJournalOptions = { readOnly: true }; // never cut, appended to or compacted
    const journal = new FileRmJournal(join(dir, `bank-${node}.journal`), journalOptions);
    const rm = new KvResourceManager({ name: 'bank', journal, compaction: false });
    await rm.open();
    const outcomes: ReadonlyMap<string, CheckedBranchOutcome> = rm.outcomes(); // 'committed' | 'rolledBack' per transaction
    resources[node] = { outcomes, inDoubt: rm.inDoubt() };
    return Number((await rm.read(account)) ?? START_BALANCE);
  };
  const alice = await balance('n2', 'alice');
  const bob = await balance('n3', 'bob');
  rmSync(dir, { recursive: true, force: true });
  const history: TxHistory = { acknowledged, resources };
  const violations: TxViolation[] = checkTxHistory(history);
  console.log(`checker: ${acknowledged.length} transactions, ${violations.length} violations`);
  for (const v of violations) console.log(`  ${v.kind}: ${JSON.stringify(v)}`);
  if (violations.length > 0) process.exit(1);
  console.log(`alice ${alice} + bob ${bob} = ${alice + bob}`);
  if (alice + bob !== 2 * START_BALANCE) {
    console.log('MONEY WAS CREATED OR DESTROYED');
    process.exit(1);
  }
  if (alice !== START_BALANCE - movedTotal) {
    console.log(`alice should hold ${START_BALANCE - movedTotal}: a transfer was lost or applied twice`);
    process.exit(1);
  }
  console.log(`totals check out: ${movedTotal} moved, every transfer committed at both banks or at neither`);
}

/** A node process. */
async function runNode(name: string, dir: string, secret: string): Promise<void> {
  const self = nodeId(name);
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const storage = new FileStorage({ directory: join(dir, 'storage') });
  await storage.start();
  const transport = new TcpTransport({
    self,
    listen: { host: '127.0.0.1', port: 0 },
    secret,
    resolve: async (node) => {
      const r = await storage.get(`example/addr/${node}`);
      return r ? (decodeJson(r.value) as unknown as NodeAddress) : undefined;
    },
  });
  await transport.start();
  await storage.put(`example/addr/${self}`, encodeJson({ host: transport.address!.host, port: transport.address!.port }));
  // The bank's durable state: an append-only journal file, fdatasync'ed on every (group) append,
  // and compacted (atomically) once it holds 4 times more records than the live state.
  const bankOptions: FileResourceManagerOptions = {
    name: 'bank',
    path: join(dir, `bank-${self}.journal`),
    branchTimeoutMs: 60_000, // a transfer whose client or manager vanished before prepare frees its accounts then
    compaction: { ratio: 4, minRecords: 10_000 },
  };
  const bank = new FileResourceManager(bankOptions);
  await bank.open();
  const resources = new ResourceHost({ transport, storage });
  await resources.add(bank);
  const tm = new TxManager({ transport, storage, resources, leaseMs: 1_500 });
  tm.on('tmActivated', ({ epoch }) => say(`transaction manager active here, epoch ${epoch}`));
  tm.on('recoveryDone', (r) => say(`recovery done: ${r.committed} committed again, ${r.aborted} rolled back (${Math.round(r.durationMs)} ms)`));
  const proxy = new TxManagerProxy({ transport, storage, local: tm });
  // The bank's own application messages: read a balance, stage a new one in a transaction.
  transport.handle('bank.read', async (m) => (await bank.read(String((m.payload as { account: string }).account))) ?? START_BALANCE);
  transport.handle('bank.set', async (m) => {
    const p = m.payload as { tx: string; account: string; value: number };
    await bank.write(txId(p.tx), p.account, p.value);
    return null;
  });
  await tm.start();
  process.on('SIGTERM', () => {
    void tm.close().then(() => process.exit(0));
  });
  say('ready');
  if (self !== 'n3') return;

  // The client: move money from Alice (bank on n2) to Bob (bank on n3, local).
  await new Promise((r) => setTimeout(r, 2_000));
  let moved = 0;
  for (let i = 1; i <= TRANSFERS; ) {
    const amount = 10 + (i % 7);
    let tx: TxId | undefined;
    try {
      tx = await proxy.begin();
      const alice = Number(await transport.request(nodeId('n2'), 'bank.read', { account: 'alice' }, { timeoutMs: 2_000 }));
      const bob = Number((await bank.read('bob')) ?? START_BALANCE);
      await transport.request(nodeId('n2'), 'bank.set', { tx, account: 'alice', value: alice - amount }, { timeoutMs: 2_000 });
      await proxy.enlist(tx, { node: nodeId('n2'), rm: 'bank' });
      await bank.write(tx, 'bob', bob + amount);
      await proxy.enlist(tx, { node: self, rm: 'bank' });
      try {
        await proxy.commit(tx);
        say(`ack ${tx} committed`);
        moved += amount;
        say(`transfer ${i} committed: ${amount} from alice to bob`);
        i++;
      } catch (err) {
        say(`ack ${tx} ${err instanceof TxAbortedError ? 'aborted' : 'unknown'}`);
        say(`transfer ${i} ${err instanceof TxAbortedError ? 'aborted' : 'failed'}: ${(err as Error).message}; retrying`);
      }
    } catch (err) {
      if (tx) await proxy.rollback(tx).catch(() => undefined); // release the staged changes
      say(`transfer ${i} could not be prepared (${(err as Error).message}); retrying`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  say(`finished: moved ${moved} in ${TRANSFERS} transfers`);
}
