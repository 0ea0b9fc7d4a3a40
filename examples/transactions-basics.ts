/**
 * Distributed transactions in one process: TxManager, TxManagerProxy and resource managers on a
 * simulated network and an in-memory shared storage, step by step.
 *
 * Two nodes: `n1` hosts the `bank` resource manager (RM), `n2` the `shop` RM. Both run a
 * transaction-manager candidate and a proxy; `n1` starts first, so its manager is the active one.
 * Every RM call is traced, so you see the two-phase commit as it happens:
 *
 *   1. commit across both RMs (prepare, prepare, decision, commit, commit)
 *   2. one RM only: a one-phase commit
 *   3. rollback, and what a finished branch says to more work
 *   4. two transactions writing the same key
 *   5. an RM that restarted and lost the work: it refuses, and the whole transaction rolls back
 *   6. outcome queries, ids, and a manager that is not the active one
 *   7. testing your failover: the active manager crashes between prepare and decision
 *      (a test-only crash point), another node takes over and recovers
 *   8. bounded state: an abandoned transaction's branch times out at its RM, the RM's journal is
 *      compacted, and an RM that forgot an old outcome claims none
 *
 * The same code runs on FileStorage and TcpTransport across processes: see
 * examples/money-transfer.ts and docs/guide/transactions.md.
 *
 * Run: npx tsx examples/transactions-basics.ts   (after npm run build)
 */
import {
  EventEmitter,
  ClosedError,
  epoch,
  isTxId,
  KvResourceManager,
  MemoryResourceManager,
  MemoryRmJournal,
  nodeId,
  NonstopError,
  ResourceHost,
  StaleEpochError,
  systemClock,
  TmNotActiveError,
  TmUnavailableError,
  TxAbortedError,
  TxConflictError,
  TxManager,
  TxManagerProxy,
  TxNotFoundError,
  TxOutcomeForgottenError,
  TxOutcomeUnknown,
  TxStateError,
  txId,
  type BeginOptions,
  type BranchOutcome,
  type BranchResult,
  type CommitOptions,
  type Epoch,
  type HeuristicReport,
  type InDoubtBranch,
  type InDoubtTxInfo,
  type JsonValue,
  type KvResourceManagerOptions,
  type LiveTxInfo,
  type LiveTxState,
  type MemoryResourceManagerOptions,
  type NodeFailureSource,
  type NodeId,
  type RecoveryReport,
  type ResourceHostOptions,
  type ResourceManager,
  type ResourceRef,
  type RmCall,
  type RmCompactionOptions,
  type RmJournal,
  type RmJournalRecord,
  type TxCrashPoint,
  type TxId,
  type TxManagerEvents,
  type TxManagerOptions,
  type TxManagerProxyOptions,
  type TxStatus,
  type Vote,
} from 'nonstop';
import { MemoryStorage } from 'nonstop/storage/memory';
import { MemoryNetwork, type MemoryTransport } from 'nonstop/transport/memory';

// ---------------------------------------------------------------- a traced resource manager

/**
 * A ResourceManager that delegates to another one and prints every call the manager makes. Any
 * object with these five methods can take part in transactions (see the rules in the guide).
 */
class TracedResourceManager implements ResourceManager {
  readonly name: string;
  readonly #inner: ResourceManager;

  constructor(inner: ResourceManager) {
    this.name = inner.name;
    this.#inner = inner;
  }

  prepare(tx: TxId, at: Epoch): Promise<Vote> {
    return this.#trace('prepare', `${tx} `, at, () => this.#inner.prepare(tx, at));
  }

  commit(tx: TxId, at: Epoch, options?: CommitOptions): Promise<BranchResult> {
    const call = () => this.#inner.commit(tx, at, options);
    return this.#trace('commit', options?.onePhase ? `${tx} one-phase ` : `${tx} `, at, call);
  }

  rollback(tx: TxId, at: Epoch): Promise<BranchResult> {
    return this.#trace('rollback', `${tx} `, at, () => this.#inner.rollback(tx, at));
  }

  recover(at: Epoch): Promise<InDoubtBranch[]> {
    return this.#trace('recover', '', at, () => this.#inner.recover(at));
  }

  forget(tx: TxId, at: Epoch): Promise<void> {
    return this.#trace('forget', `${tx} `, at, () => this.#inner.forget(tx, at));
  }

  async #trace<T>(call: RmCall, what: string, at: Epoch, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      const shown = isBranchResult(result) ? outcomeText(result.outcome, result.heuristic) : typeof result === 'string' ? result : JSON.stringify(result ?? 'ok');
      if (call !== 'recover' || (result as InDoubtBranch[]).length > 0) console.log(`    [${this.name}] ${call} ${what}(epoch ${at}) → ${shown}`);
      return result;
    } catch (err) {
      console.log(`    [${this.name}] ${call} ${what}(epoch ${at}) → ${(err as NonstopError).code}`);
      throw err;
    }
  }
}

function isBranchResult(value: unknown): value is BranchResult {
  return typeof value === 'object' && value !== null && 'outcome' in value;
}

function outcomeText(outcome: BranchOutcome, heuristic: boolean): string {
  return heuristic ? `${outcome} (decided by the RM alone)` : outcome;
}

// ---------------------------------------------------------------- the cluster

/** Failure notices, as a RingMonitor gives them: the manager takes over at once, not after the lease. */
class FailureNotices extends EventEmitter<{ nodeFailed: [node: NodeId] }> implements NodeFailureSource {}

interface ClusterNode {
  readonly transport: MemoryTransport;
  readonly resources: ResourceHost;
  readonly tm: TxManager;
  readonly proxy: TxManagerProxy;
}

const network = new MemoryNetwork({ clock: systemClock, seed: 1 });
const storage = new MemoryStorage(); // the cluster's shared storage: lease, fence, log, RM registry
await storage.start();
const notices = new FailureNotices();
/** Test only: where n1's manager "crashes" (see step 7). Never set in production. */
let crashAt: TxCrashPoint | undefined;
let crashed: () => void = () => undefined;

async function startNode(name: string, rm: ResourceManager): Promise<ClusterNode> {
  const transport = network.transport(name);
  await transport.start();
  const hostOptions: ResourceHostOptions = { transport, storage };
  const resources = new ResourceHost(hostOptions);
  const ref: ResourceRef = await resources.add(rm); // registered in storage, so every manager finds it
  console.log(`  ${ref.rm} runs on ${ref.node}`);
  const tmOptions: TxManagerOptions = {
    transport,
    storage,
    resources,
    leaseMs: 600, // a manager whose lease record stops changing for this long is replaced
    recoveryIntervalMs: 200, // how often the active manager asks every RM for in-doubt branches
    outcomeRetention: 100_000, // outcomes of finished transactions remembered (the RMs remember theirs too)
    maxPendingRollbacks: 10_000, // undelivered rollbacks retried at recovery passes (then: RM time-outs)
    failures: notices,
    faultInjection: {
      at: (point: TxCrashPoint) => {
        if (name !== 'n1' || point !== crashAt) return;
        network.kill(name); // the node dies here: its transport is gone …
        void tm.close(); // … and so is its manager
        crashed();
        throw new ClosedError(`${name} (crashed at ${point})`);
      },
    },
  };
  const tm = new TxManager(tmOptions);
  const label = (node: NodeId): string => `  [tm ${node}]`;
  tm.on('tmActivated', ({ node, epoch }) => console.log(`${label(node)} active, epoch ${epoch}`));
  const onLost = (info: TxManagerEvents['tmLost'][0]): void => console.log(`${label(info.node)} no longer active: ${info.reason}`);
  tm.on('tmLost', onLost);
  tm.on('recoveryStarted', ({ decided }) => console.log(`${label(tm.node)} recovery: ${decided} decided transactions in the log`));
  tm.on('recoveryDone', (report: RecoveryReport) =>
    console.log(`${label(tm.node)} recovery done: ${report.committed} committed, ${report.aborted} rolled back, ${report.unresolved} unresolved`),
  );
  tm.on('heuristicOutcome', (report: HeuristicReport) =>
    console.log(`${label(tm.node)} HEURISTIC: ${report.rm.rm} ${report.outcome} ${report.tx}, the decision was ${report.decision} (matches: ${report.matches})`),
  );
  const proxyOptions: TxManagerProxyOptions = {
    transport,
    storage,
    local: tm,
    retryTimeoutMs: 3_000,
    abandonAfterMs: 600_000, // participants of a transaction the application abandoned are forgotten then
  };
  const proxy = new TxManagerProxy(proxyOptions);
  await tm.start();
  return { transport, resources, tm, proxy };
}

function stopNode(node: ClusterNode): Promise<void> {
  node.resources.close();
  network.kill(node.transport.self);
  return node.tm.close();
}

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await systemClock.sleep(20);
}

const balance = async (rm: KvResourceManager, key: string): Promise<JsonValue> => (await rm.read(key)) ?? 100;
const n1Id = nodeId('n1');
const bankRef: ResourceRef = { node: n1Id, rm: 'bank' };
const shopRef: ResourceRef = { node: 'n2', rm: 'shop' };

console.log('starting n1 and n2');
// The bank: an in-memory RM whose journal plays its disk (keep the journal to "restart" it).
const bankJournal: RmJournal = new MemoryRmJournal();
const bankOptions: MemoryResourceManagerOptions = { journal: bankJournal };
let bank = new MemoryResourceManager('bank', bankOptions);
let n1 = await startNode('n1', new TracedResourceManager(bank));
await until(() => n1.tm.isActive);
// The shop: the same key/value RM, built from its parts.
const shopJournal = new MemoryRmJournal();
const shopOptions: KvResourceManagerOptions = { name: 'shop', journal: shopJournal };
let shop = new KvResourceManager(shopOptions);
let n2 = await startNode('n2', new TracedResourceManager(shop));

// ---------------------------------------------------------------- 1. two-phase commit
console.log('\n1. alice buys a widget: the bank and the shop commit together');
const within5s: BeginOptions = { timeoutMs: 5_000 }; // rolled back if not committed by then
const tx1 = await n2.proxy.begin(within5s);
await bank.write(tx1, 'alice', Number(await balance(bank, 'alice')) - 30); // staged, not visible yet
await n2.proxy.enlist(tx1, bankRef);
await shop.write(tx1, 'orders/1', { item: 'widget', buyer: 'alice' });
await n2.proxy.enlist(tx1, shopRef);
const live: LiveTxInfo[] = [...n1.tm.status().live];
for (const { tx, state, participants } of live) console.log(`  ${tx} is ${state} with ${participants.map((p) => p.rm).join(' and ')}`);
console.log(`  before the commit alice has ${await balance(bank, 'alice')}`);
await n2.proxy.commit(tx1);
console.log(`  committed ${tx1}: alice has ${await balance(bank, 'alice')}, order 1 is ${JSON.stringify(await shop.read('orders/1'))}`);

// ---------------------------------------------------------------- 2. one participant
console.log('\n2. one RM only: one-phase commit, nothing written to the manager\'s log');
const forcedBefore = n1.tm.status().forcedWrites;
const tx2 = await n1.proxy.begin();
await bank.write(tx2, 'bob', 120);
await n1.proxy.enlist(tx2, bankRef);
await n1.proxy.commit(tx2);
console.log(`  bob has ${await balance(bank, 'bob')}; log writes for it: ${n1.tm.status().forcedWrites - forcedBefore}`);

// ---------------------------------------------------------------- 3. rollback
console.log('\n3. rollback: the staged change is dropped');
const tx3 = await n1.proxy.begin();
await bank.write(tx3, 'alice', 0);
await n1.proxy.enlist(tx3, bankRef);
await n1.proxy.rollback(tx3);
console.log(`  alice still has ${await balance(bank, 'alice')}`);
try {
  await bank.write(tx3, 'alice', 1);
} catch (err) {
  if (!(err instanceof TxStateError)) throw err;
  console.log(`  more work in ${tx3}: ${err.code}, the branch is ${err.state}`);
}

// ---------------------------------------------------------------- 4. conflicts
console.log('\n4. two transactions write the same key: the second is refused until the first ends');
const tx4a = await n1.proxy.begin();
const tx4b = await n1.proxy.begin();
await bank.write(tx4a, 'bob', 110);
try {
  await bank.write(tx4b, 'bob', 130);
} catch (err) {
  if (!(err instanceof TxConflictError)) throw err;
  console.log(`  ${tx4b}: ${err.message} (retryable: ${err.retryable}); rolling it back to retry later`);
  await n1.proxy.rollback(tx4b);
}
await n1.proxy.enlist(tx4a, bankRef);
await n1.proxy.commit(tx4a);
console.log(`  bob has ${await balance(bank, 'bob')}`);

// ---------------------------------------------------------------- 5. a refusing RM
console.log('\n5. n2 restarts in the middle of a transaction: the shop lost the staged order and refuses');
const tx5 = await n1.proxy.begin();
await bank.write(tx5, 'alice', Number(await balance(bank, 'alice')) - 30);
await n1.proxy.enlist(tx5, bankRef);
await shop.write(tx5, 'orders/2', { item: 'widget', buyer: 'alice' });
await n1.proxy.enlist(tx5, shopRef);
await stopNode(n2);
await shop.close(); // the old process is gone (its branch timers too) …
shop = new KvResourceManager(shopOptions); // … the new one reopens the same journal: what was durable survives
n2 = await startNode('n2', new TracedResourceManager(shop));
try {
  await n1.proxy.commit(tx5);
} catch (err) {
  if (!(err instanceof TxAbortedError)) throw err;
  console.log(`  ${err.code}: ${err.message}`);
}
console.log(`  alice still has ${await balance(bank, 'alice')}; order 2: ${JSON.stringify(await shop.read('orders/2'))}`);
const journaled: RmJournalRecord[] = await shopJournal.load();
console.log(`  the shop's journal: ${journaled.map((r) => r.t).join(', ')}`);

// ---------------------------------------------------------------- 6. outcomes and ids
console.log('\n6. asking about transactions');
console.log(`  ${tx1} → ${await n2.proxy.outcome(tx1)}, ${tx5} → ${await n2.proxy.outcome(tx5)}`);
const received: unknown = JSON.parse(`"${tx1}"`); // e.g. an id that came in a message
if (isTxId(received)) console.log(`  ${received} is a transaction id`);
const tx6 = await n1.proxy.begin();
const ask = async (what: string, call: () => Promise<unknown>): Promise<void> => {
  try {
    console.log(`  ${what} → ${String(await call())}`);
  } catch (err) {
    if (err instanceof TxOutcomeUnknown) console.log(`  ${what} → ${err.code}: not decided yet, ask again later`);
    else if (err instanceof TxNotFoundError) console.log(`  ${what} → ${err.code}: no such transaction`);
    else if (err instanceof TmNotActiveError) console.log(`  ${what} → ${err.code} (retryable: ${err.retryable}): the proxy finds the active one`);
    else throw err;
  }
};
await ask(`the outcome of ${tx6}, still open`, () => n1.tm.outcome(tx6));
const epochNow = n1.tm.status().epoch!;
await ask(`the outcome of t${epochNow}.999, never begun`, () => n1.tm.outcome(txId(`t${epochNow}.999`)));
await ask('begin on n2, whose manager is a candidate', () => n2.tm.begin());
await n1.proxy.rollback(tx6);

// ---------------------------------------------------------------- 7. failover
console.log('\n7. testing your failover: n1\'s manager crashes after prepare, before the decision');
crashAt = 'beforeDecision';
const crash = new Promise<void>((resolve) => (crashed = resolve));
const tx7 = await n2.proxy.begin();
await bank.write(tx7, 'alice', 0);
await n2.proxy.enlist(tx7, bankRef);
await shop.write(tx7, 'orders/3', { item: 'yacht', buyer: 'alice' });
await n2.proxy.enlist(tx7, shopRef);
const committing = n2.proxy.commit(tx7).then(
  () => 'committed',
  (err: unknown) => (err instanceof NonstopError ? `${err.name}: ${err.message}` : String(err)),
);
await crash;
console.log(`  n1 is down; the shop holds a prepared branch it cannot decide: ${shop.inDoubt().join(', ')}`);
// An impatient administrator decides the shop's branch by hand (a heuristic decision).
await shop.heuristicDecide(tx7, 'rolledBack');
notices.emit('nodeFailed', n1Id); // a ring monitor declares n1 failed: n2 takes over now
await until(() => n2.tm.isActive);
console.log('  n1 restarts; its bank comes back from its journal, with the branch still prepared');
await bank.close();
bank = new MemoryResourceManager('bank', bankOptions);
crashAt = undefined;
n1 = await startNode('n1', new TracedResourceManager(bank));
console.log(`  the client's commit: ${await committing}`);
await until(() => bank.inDoubt().length === 0 && n2.tm.status().heuristics.length > 0);
console.log(`  alice has ${await balance(bank, 'alice')}; order 3: ${JSON.stringify(await shop.read('orders/3'))}`);
printStatus(n2.tm.status());

// A call from the deposed manager (epoch 1) — a zombie that wakes up late — is refused by the RM.
try {
  await bank.prepare(tx7, epoch(1));
} catch (err) {
  if (!(err instanceof StaleEpochError)) throw err;
  console.log(`  a late call from epoch ${err.presented}: ${err.code} (the bank has seen epoch ${err.highest})`);
}

// ---------------------------------------------------------------- 8. bounded state
console.log('\n8. bounded state: an abandoned transaction, a compacted journal, a forgotten outcome');
// An RM that rolls back an open (unprepared) branch idle for 300 ms (default 60 s; prepared
// branches never time out), remembers its last 1,000 outcomes, and compacts its journal by itself
// past 200 records and 4 records per live entry.
const seatsCompaction: RmCompactionOptions = { ratio: 4, minRecords: 200 };
const seats = new MemoryResourceManager('seats', { clock: systemClock, branchTimeoutMs: 300, outcomeRetention: 1_000, compaction: seatsCompaction });
const seatsRef = await n2.resources.add(seats);
const abandoned = await n2.proxy.begin();
await seats.write(abandoned, 'seat-12A', 'alice');
await n2.proxy.enlist(abandoned, seatsRef);
console.log(`  ${abandoned} holds seat 12A; its application goes away (the proxy tracks ${n2.proxy.trackedTransactions} transaction)`);
await until(() => seats.outcomes().get(abandoned) === 'rolledBack');
console.log(`  after 300 ms without work the seats RM rolled ${abandoned} back and freed the seat`);
for (let i = 0; i < 40; i++) {
  const tx = await n2.proxy.begin();
  await seats.write(tx, 'seat-12A', `guest ${i}`);
  await n2.proxy.enlist(tx, seatsRef);
  await n2.proxy.commit(tx);
}
const journalBefore = seats.journalRecords;
await seats.compact(); // also runs by itself past the `compaction` threshold
console.log(`  the seats journal: ${journalBefore} records, compacted to ${seats.journalRecords}; seat 12A: ${JSON.stringify(await seats.read('seat-12A'))}`);
await ask(`a late commit of ${abandoned}`, () => n2.proxy.commit(abandoned).then(() => 'committed', (err: unknown) => (err as NonstopError).code));
console.log(`  rollbacks waiting for a participant: ${n2.tm.status().pendingRollbacks}; transactions the proxy tracks: ${n2.proxy.trackedTransactions}`);
// An RM remembers the outcomes of its last `outcomeRetention` branches. It also keeps its
// forgotten horizon — the greatest transaction whose outcome it forgot — so that it never answers
// for a forgotten branch as if it had never seen it ("rolled back"): it claims no outcome.
const receipts = new MemoryResourceManager('receipts', { outcomeRetention: 3 });
const receiptsRef = await n2.resources.add(receipts);
const receiptTxs: TxId[] = [];
for (let i = 1; i <= 5; i++) {
  const tx = await n2.proxy.begin();
  await receipts.write(tx, `receipt/${i}`, { amount: 10 * i });
  await n2.proxy.enlist(tx, receiptsRef);
  await n2.proxy.commit(tx); // one participant: a one-phase commit, decided by the RM
  receiptTxs.push(tx);
}
const firstReceipt = receiptTxs[0]!;
console.log(`  the receipts RM remembers its last 3 outcomes; forgotten horizon: ${receipts.forgottenHorizon}`);
try {
  // What a manager hears when it asks the RM how the branch ended (a rollback under its epoch).
  await receipts.rollback(firstReceipt, n2.tm.status().epoch!);
} catch (err) {
  if (!(err instanceof TxOutcomeForgottenError)) throw err;
  console.log(`  rollback of ${firstReceipt} at the receipts RM: ${err.code} (retryable: ${err.retryable}); nothing recorded`);
}
// The manager still remembers it (its own outcomeRetention); had it forgotten it too, the answer
// would be TxOutcomeUnknown — never "aborted" for a transaction that committed.
await ask(`the outcome of ${firstReceipt}`, () => n2.tm.outcome(firstReceipt, [receiptsRef]));

// ---------------------------------------------------------------- shutting down
await Promise.all([stopNode(n1), stopNode(n2)]);
await Promise.all([bank.close(), shop.close(), seats.close(), receipts.close()]);
const n3 = network.transport('n3');
await n3.start();
const late = new TxManagerProxy({ transport: n3, storage, retryTimeoutMs: 300 });
try {
  await late.begin();
} catch (err) {
  if (!(err instanceof TmUnavailableError)) throw err;
  console.log(`\nwith every manager stopped: ${err.code}: ${err.message}`);
}
await n3.close();
await storage.close();

function printStatus(status: TxStatus): void {
  const state = (t: LiveTxInfo): LiveTxState => t.state;
  const pending = (t: InDoubtTxInfo): string => `${t.tx} waits for ${t.pending.map((p) => p.rm).join(', ')}`;
  console.log(`  status of ${status.node}: active ${status.active}, epoch ${status.epoch}, log writes ${status.forcedWrites}`);
  console.log(`    live: ${status.live.map((t) => `${t.tx} ${state(t)}`).join(', ') || 'none'}; in doubt: ${status.inDoubt.map(pending).join(', ') || 'none'}`);
  for (const h of status.heuristics) console.log(`    heuristic: ${h.rm.node}/${h.rm.rm} ${h.outcome} ${h.tx} (decision ${h.decision})`);
}
