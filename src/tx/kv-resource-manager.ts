/**
 * A small transactional key/value store that takes part in transactions as a resource manager:
 * the in-memory RM of the tests and the core of the file-journaled RM.
 *
 * @module
 */
import { systemClock, type Clock, type Timer } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import { describe, type Epoch } from '../core/ids.js';
import type { JsonValue } from '../core/json.js';
import { logger } from '../core/log.js';
import { StaleEpochError, TxConflictError, TxOutcomeForgottenError, TxStateError } from './errors.js';
import {
  RM_NAME_PATTERN,
  type BranchOutcome,
  type BranchResult,
  type CommitOptions,
  type InDoubtBranch,
  type ResourceManager,
  type Vote,
} from './resource-manager.js';
import type { RmJournal, RmJournalRecord } from './rm-journal.js';
import { compareTxIds, txId, type TxId } from './tx-id.js';
import { positiveCount, positiveMs } from './options.js';

const log = logger('tx').extend('rm');

/** The resource-manager calls a fault hook sees. */
export type RmCall = 'prepare' | 'commit' | 'rollback' | 'recover' | 'forget';

/** Options of {@link KvResourceManager}. */
export interface KvResourceManagerOptions {
  /** The RM's name (see `RM_NAME_PATTERN`). */
  readonly name: string;
  /** Where its state is journaled. */
  readonly journal: RmJournal;
  /** The clock of the branch time-outs (default: the system clock). */
  readonly clock?: Clock;
  /**
   * An open branch — work staged by {@link KvResourceManager.write} or
   * {@link KvResourceManager.join}, not yet prepared — that sees no `write` or `join` for this
   * many milliseconds is rolled back by the resource manager alone, and its locks are released
   * (default 60,000 ms). This is allowed before `prepare` (presumed abort) and frees keys held by a
   * transaction whose application or manager disappeared. A later `prepare` of the branch votes
   * `'refused'` and a one-phase `commit` answers `'rolledBack'`, so the manager aborts the
   * transaction. Prepared branches never time out: they are in doubt, and only the manager
   * decides them. Keep it above the manager's `txTimeoutMs` and your transactions' time limits.
   */
  readonly branchTimeoutMs?: number;
  /**
   * How many outcomes of finished branches the resource manager remembers, oldest forgotten first
   * (default 100,000). Managers learn the outcome of a transaction whose answer was lost from them
   * (a `rollback` of a committed branch answers `committed`), so keep this well above the number
   * of transactions the RM finishes while a manager may still ask. Heuristic outcomes are kept
   * until the manager calls `forget`. Compaction keeps exactly the remembered outcomes, so reopen
   * a journal with the same value.
   *
   * What is forgotten is bounded by the *forgotten horizon*: the greatest transaction id (by epoch,
   * then sequence number) whose outcome the RM has forgotten, kept durably (through compaction
   * too; see {@link KvResourceManager.forgottenHorizon}). For a branch it does not know at or below
   * the horizon, `rollback` and one-phase `commit` claim no outcome — the branch may have committed
   * — and throw {@link TxOutcomeForgottenError} without recording anything. A manager that asks
   * for the outcome then answers `TxOutcomeUnknown` (unless another participant remembers a
   * commit); a manager that aborts the transaction takes it as rolled back. An unknown branch above
   * the horizon is one the RM never finished: `rollback` records it as rolled back and a one-phase
   * `commit` answers `'rolledBack'`, as before. `write`, `join` and `prepare` do not look at the
   * horizon: a long-running transaction below it can still start its branch here, and `prepare`
   * of an unknown branch is refused wherever it is.
   */
  readonly outcomeRetention?: number;
  /**
   * When the journal is compacted automatically (see {@link KvResourceManager.compact}), or
   * `false` to compact only when `compact()` is called. Default `{ ratio: 4, minRecords: 10_000 }`.
   */
  readonly compaction?: RmCompactionOptions | false;
  /**
   * Test-only fault injection: runs before every manager call and may throw (the call fails),
   * hang (the call times out at the manager) or return a vote to force for `prepare`.
   */
  readonly faultInjection?: (call: RmCall, tx: TxId | undefined) => void | Vote | Promise<void | Vote>;
}

/**
 * When a {@link KvResourceManager} compacts its journal by itself: once the journal holds at least
 * `minRecords` records and more than `ratio` times the entries of the live state (committed keys,
 * prepared branches and remembered outcomes).
 */
export interface RmCompactionOptions {
  /** Journal records per live entry above which the journal is compacted (default 4; more than 1). */
  readonly ratio?: number;
  /** No automatic compaction below this many journal records (default 10,000). */
  readonly minRecords?: number;
}

interface Finished {
  readonly outcome: BranchOutcome;
  heuristic: boolean;
}

/** When an open branch last saw work, and the timer that rolls it back when idle too long. */
interface Idle {
  touched: number;
  timer: Timer | undefined;
}

const DATA_CHUNK = 1_000;
const OUTCOME_CHUNK = 2_000;

/**
 * A transactional key/value store and {@link ResourceManager}. Work is staged per transaction
 * with {@link KvResourceManager.write} (a key written by one open transaction is locked against
 * others) and becomes visible to {@link KvResourceManager.read} when the branch commits.
 * Every state change is journaled before it is acknowledged; {@link KvResourceManager.open}
 * rebuilds the state from the journal, and {@link KvResourceManager.compact} rewrites the journal
 * as the smallest equivalent (automatically, see `compaction`).
 *
 * An open branch idle for `branchTimeoutMs` is rolled back (see
 * {@link KvResourceManagerOptions.branchTimeoutMs}); a branch this RM does not know — never
 * joined, or staged work lost in a restart — refuses `prepare` and one-phase `commit`, unless it
 * is at or below the forgotten horizon (see {@link KvResourceManagerOptions.outcomeRetention}):
 * then one-phase `commit` and `rollback` throw {@link TxOutcomeForgottenError}.
 */
export class KvResourceManager implements ResourceManager {
  /** @inheritDoc */
  readonly name: string;
  readonly #journal: RmJournal;
  readonly #fault: KvResourceManagerOptions['faultInjection'];
  readonly #clock: Clock;
  readonly #branchTimeoutMs: number;
  readonly #retention: number;
  readonly #compaction: Required<RmCompactionOptions> | undefined;
  #highest = 0;
  /** The highest epoch known to be in the journal (`#highest` is taken before it is written). */
  #durableEpoch = 0;
  /** The journal write of `#highest`, while under way. */
  #epochWrite: Promise<void> | undefined;
  readonly #data = new Map<string, JsonValue>();
  readonly #active = new Map<TxId, Map<string, JsonValue>>();
  readonly #prepared = new Map<TxId, Map<string, JsonValue>>();
  readonly #finished = new Map<TxId, Finished>();
  /** The greatest transaction whose outcome was forgotten (`undefined`: none). */
  #horizon: TxId | undefined;
  readonly #locks = new Map<string, TxId>();
  readonly #serial = new Map<TxId, Promise<unknown>>();
  readonly #idle = new Map<TxId, Idle>();
  readonly #expiring = new Set<TxId>();
  /**
   * Branches whose prepare, one-phase commit or rollback is being journaled, with that state: they
   * take no more work, since the journal record was made before it would arrive (the work would be
   * lost, and its keys left locked by a finished transaction).
   */
  readonly #ending = new Map<TxId, 'preparing' | 'committing' | 'rollingBack'>();
  #opened: Promise<void> | undefined;
  #closed = false;
  /** Records in the journal (loaded, appended, or written by the last compaction). */
  #journalRecords = 0;
  /** No automatic compaction before the journal holds this many records (raised after a failure). */
  #compactAt = 0;
  /** Journal appends under way (a compaction waits until none is). */
  #inflight = 0;
  readonly #drained: (() => void)[] = [];
  #compacting: Promise<void> | undefined;

  /**
   * @throws {@link InvalidArgumentError} naming `name`, `journal`, `clock`, `branchTimeoutMs`,
   *   `outcomeRetention` or `compaction`
   */
  constructor(options: KvResourceManagerOptions) {
    if (typeof options?.name !== 'string' || !RM_NAME_PATTERN.test(options.name)) {
      throw new InvalidArgumentError('name', 'must be 1-63 letters, digits, ".", "_" or "-"');
    }
    if (typeof options.journal?.append !== 'function') throw new InvalidArgumentError('journal', 'must be an RmJournal');
    if (options.clock !== undefined && typeof options.clock?.setTimeout !== 'function') throw new InvalidArgumentError('clock', 'must be a Clock');
    this.name = options.name;
    this.#journal = options.journal;
    this.#fault = options.faultInjection;
    this.#clock = options.clock ?? systemClock;
    this.#branchTimeoutMs = positiveMs(options.branchTimeoutMs, 60_000, 'branchTimeoutMs');
    this.#retention = positiveCount(options.outcomeRetention, 100_000, 'outcomeRetention');
    this.#compaction = compactionOptions(options.compaction);
    this.#compactAt = this.#compaction?.minRecords ?? Infinity;
  }

  /** Rebuilds the state from the journal. Idempotent; every other call waits for it. */
  open(): Promise<void> {
    this.#opened ??= this.#journal.load().then((records) => {
      for (const r of records) this.#replay(r);
      this.#journalRecords = records.length;
      this.#maybeCompact(); // a long journal is compacted at once, so the next restart is quick
    });
    return this.#opened;
  }

  /** Stops the branch timers and automatic compaction, and releases the journal. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const idle of this.#idle.values()) idle.timer?.cancel();
    this.#idle.clear();
    await this.#compacting?.catch(() => undefined);
    await this.#journal.close();
  }

  /**
   * Rewrites the journal as the smallest equivalent: the highest epoch, the committed data, the
   * prepared branches with their writes, the remembered outcomes (heuristic ones included) and the
   * forgotten horizon —
   * exactly what {@link KvResourceManager.open} rebuilds, so a restart reads far less. New state
   * changes wait while it runs. Atomic when the journal's `compact` is (the shipped journals'
   * are): a crash at any moment leaves the old journal or the new one. Does nothing if the
   * journal has no `compact` method.
   *
   * Runs by itself when the journal grows past the `compaction` threshold.
   */
  compact(): Promise<void> {
    this.#compacting ??= this.#runCompaction().finally(() => {
      this.#compacting = undefined;
    });
    return this.#compacting;
  }

  /** The number of records in the journal, as far as this RM knows (for monitoring compaction). */
  get journalRecords(): number {
    return this.#journalRecords;
  }

  /** The committed value of `key`, `undefined` if it was never written. */
  async read(key: string): Promise<JsonValue | undefined> {
    await this.open();
    return this.#data.get(key);
  }

  /** Every committed key and value. */
  async entries(): Promise<Map<string, JsonValue>> {
    await this.open();
    return new Map(this.#data);
  }

  /**
   * Starts the branch of `tx` without changing anything (XA `start`): a branch that is joined but
   * never written votes `readOnly`. {@link KvResourceManager.write} joins implicitly.
   *
   * @throws {@link TxStateError} if the branch is prepared, finished, or ending (its prepare, commit or rollback is under way)
   */
  async join(tx: TxId): Promise<void> {
    const id = txId(tx);
    await this.open();
    this.#checkOpen(id);
    if (!this.#active.has(id)) this.#active.set(id, new Map());
    this.#touch(id);
  }

  /**
   * Stages `key = value` in the branch of `tx`.
   *
   * @throws {@link TxStateError} if the branch is prepared, finished, or ending (its prepare, commit or rollback is under way)
   * @throws {@link TxConflictError} if another open transaction holds `key`
   */
  async write(tx: TxId, key: string, value: JsonValue): Promise<void> {
    const id = txId(tx);
    await this.open();
    this.#checkOpen(id);
    const holder = this.#locks.get(key);
    if (holder !== undefined && holder !== id) throw new TxConflictError(`${this.name}: ${JSON.stringify(key)} is held by ${holder}`);
    this.#locks.set(key, id);
    let writes = this.#active.get(id);
    if (!writes) this.#active.set(id, (writes = new Map()));
    writes.set(key, value);
    this.#touch(id);
  }

  #checkOpen(tx: TxId): void {
    const done = this.#finished.get(tx);
    if (done) throw new TxStateError(tx, done.outcome, 'the branch is finished');
    if (this.#prepared.has(tx)) throw new TxStateError(tx, 'prepared', 'the branch is prepared; no more work');
    if (this.#expiring.has(tx)) throw new TxStateError(tx, 'rolledBack', 'the branch timed out and is being rolled back');
    const ending = this.#ending.get(tx);
    if (ending) throw new TxStateError(tx, ending, 'the branch is ending; no more work');
  }

  /** Journals `record`, which ends the branch of `tx`, refusing new work on the branch meanwhile. */
  async #end(tx: TxId, state: 'preparing' | 'committing' | 'rollingBack', record: RmJournalRecord): Promise<void> {
    this.#ending.set(tx, state);
    try {
      await this.#write(record);
    } finally {
      this.#ending.delete(tx);
    }
  }

  /** The outcome of every finished branch, for checkers. */
  outcomes(): Map<TxId, BranchOutcome> {
    return new Map([...this.#finished].map(([tx, f]) => [tx, f.outcome]));
  }

  /** The transactions whose branches are prepared and wait for an outcome. */
  inDoubt(): TxId[] {
    return [...this.#prepared.keys()];
  }

  /** The highest transaction-manager epoch seen. */
  get highestEpoch(): number {
    return this.#highest;
  }

  /**
   * The forgotten horizon: the greatest transaction id whose outcome this RM has forgotten
   * (`undefined` if it has forgotten none). See {@link KvResourceManagerOptions.outcomeRetention}.
   */
  get forgottenHorizon(): TxId | undefined {
    return this.#horizon;
  }

  /**
   * Decides a prepared branch alone, as an administrator would when the manager is gone for
   * good (a heuristic decision). The manager reports it with a `heuristicOutcome` event.
   *
   * @throws {@link TxStateError} unless the branch is prepared
   */
  heuristicDecide(tx: TxId, outcome: BranchOutcome): Promise<void> {
    const id = txId(tx);
    return this.#inSerial(id, async () => {
      if (!this.#prepared.has(id)) throw new TxStateError(id, 'not prepared', 'only a prepared branch can be decided alone');
      await this.#write(outcome === 'committed' ? { t: 'commit', tx: id, h: true } : { t: 'rollback', tx: id, h: true });
    });
  }

  /** @inheritDoc */
  prepare(tx: TxId, epoch: Epoch): Promise<Vote> {
    return this.#inSerial(tx, async () => {
      const forced = await this.#enter('prepare', tx, epoch);
      const done = this.#finished.get(tx);
      if (done) return done.outcome === 'committed' ? 'prepared' : 'refused';
      if (this.#prepared.has(tx)) return 'prepared';
      if (forced === 'refused') {
        await this.#write({ t: 'rollback', tx });
        return 'refused';
      }
      const writes = this.#active.get(tx);
      if (!writes) {
        // Unknown branch: its work was lost (this RM restarted) or never done here.
        await this.#write({ t: 'rollback', tx });
        return 'refused';
      }
      if (writes.size === 0) {
        this.#active.delete(tx);
        this.#untrack(tx);
        return 'readOnly';
      }
      await this.#end(tx, 'preparing', { t: 'prepare', tx, w: [...writes] });
      return 'prepared';
    });
  }

  /** @inheritDoc */
  commit(tx: TxId, epoch: Epoch, options: CommitOptions = {}): Promise<BranchResult> {
    return this.#inSerial(tx, async () => {
      await this.#enter('commit', tx, epoch);
      const done = this.#finished.get(tx);
      if (done) return { outcome: done.outcome, heuristic: done.heuristic };
      if (this.#prepared.has(tx)) {
        await this.#write({ t: 'commit', tx });
      } else if (options.onePhase === true) {
        const writes = this.#active.get(tx);
        if (!writes) {
          // At or below the horizon, an unknown branch may be one that committed and was forgotten
          // (this is a retransmission): claim nothing, record nothing.
          this.#checkRemembered(tx, 'one-phase commit');
          // Unknown branch, as for prepare: its work was lost (this RM restarted) or never done here.
          await this.#write({ t: 'rollback', tx });
          return { outcome: 'rolledBack', heuristic: false };
        }
        await this.#end(tx, 'committing', { t: 'commit', tx, w: [...writes] });
      } else if (this.#active.has(tx)) {
        throw new TxStateError(tx, 'active', `${this.name}: commit of a branch that was not prepared`);
      } else {
        return { outcome: 'committed', heuristic: false }; // nothing here (read-only or never used)
      }
      return { outcome: 'committed', heuristic: false };
    });
  }

  /** @inheritDoc */
  rollback(tx: TxId, epoch: Epoch): Promise<BranchResult> {
    return this.#inSerial(tx, async () => {
      await this.#enter('rollback', tx, epoch);
      const done = this.#finished.get(tx);
      if (done) return { outcome: done.outcome, heuristic: done.heuristic };
      // Open and prepared branches are rolled back wherever they are; an unknown one at or below
      // the horizon may have committed and been forgotten: claim nothing, record nothing.
      if (!this.#active.has(tx) && !this.#prepared.has(tx)) this.#checkRemembered(tx, 'rollback');
      await this.#end(tx, 'rollingBack', { t: 'rollback', tx });
      return { outcome: 'rolledBack', heuristic: false };
    });
  }

  /** @inheritDoc */
  async recover(epoch: Epoch): Promise<InDoubtBranch[]> {
    await this.#enter('recover', undefined, epoch);
    const branches: InDoubtBranch[] = [...this.#prepared.keys()].map((tx) => ({ tx, state: 'prepared' as const }));
    for (const [tx, f] of this.#finished) {
      if (f.heuristic) branches.push({ tx, state: f.outcome === 'committed' ? 'heuristicCommit' : 'heuristicRollback' });
    }
    return branches;
  }

  /** @inheritDoc */
  forget(tx: TxId, epoch: Epoch): Promise<void> {
    return this.#inSerial(tx, async () => {
      await this.#enter('forget', tx, epoch);
      if (this.#finished.get(tx)?.heuristic) await this.#write({ t: 'forget', tx });
    });
  }

  /**
   * Throws {@link TxOutcomeForgottenError} if `tx`, a branch this RM does not know, is at or below
   * the forgotten horizon: its outcome may have been forgotten.
   */
  #checkRemembered(tx: TxId, call: string): void {
    if (this.#horizon !== undefined && compareTxIds(tx, this.#horizon) <= 0) {
      throw new TxOutcomeForgottenError(
        tx,
        `${this.name}: ${call} of a branch whose outcome may have been forgotten (forgotten horizon ${this.#horizon}); the outcome is unknown here`,
      );
    }
  }

  /** Opens, runs the fault hook, and checks and records the epoch (B1). */
  async #enter(call: RmCall, tx: TxId | undefined, epoch: Epoch): Promise<Vote | undefined> {
    await this.open();
    const forced = (await this.#fault?.(call, tx)) ?? undefined;
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw new InvalidArgumentError('epoch', 'must be a positive integer');
    if (epoch < this.#highest) throw new StaleEpochError(this.name, epoch, this.#highest);
    this.#highest = epoch; // at once, so that concurrent calls from older epochs are refused
    // Every call of the epoch waits until it is durable, not only the one that raised it: another
    // one would otherwise act (and answer) while the write is under way, or after it failed.
    while (this.#durableEpoch < epoch) await (this.#epochWrite ??= this.#writeEpoch());
    return forced;
  }

  /** Journals `#highest` (one write at a time); a failure fails the calls that wait for it. */
  async #writeEpoch(): Promise<void> {
    const e = this.#highest;
    try {
      await this.#durable([{ t: 'epoch', e }]);
      this.#durableEpoch = Math.max(this.#durableEpoch, e);
    } finally {
      this.#epochWrite = undefined;
    }
  }

  /** Journals a record durably, then applies it. */
  async #write(record: RmJournalRecord): Promise<void> {
    await this.#durable([record], () => this.#replay(record));
  }

  /**
   * Appends to the journal — after a running compaction, never during one — and applies the
   * change (`apply`) before a compaction may read the state.
   */
  async #durable(records: readonly RmJournalRecord[], apply?: () => void): Promise<void> {
    while (this.#compacting) await this.#compacting.catch(() => undefined);
    this.#inflight++;
    try {
      await this.#journal.append(records);
      this.#journalRecords += records.length;
      apply?.();
    } finally {
      if (--this.#inflight === 0) for (const resolve of this.#drained.splice(0)) resolve();
    }
    this.#maybeCompact();
  }

  #maybeCompact(): void {
    const c = this.#compaction;
    if (!c || this.#closed || this.#compacting || typeof this.#journal.compact !== 'function') return;
    if (this.#journalRecords < this.#compactAt || this.#journalRecords <= c.ratio * this.#liveEntries()) return;
    this.compact().catch((err: unknown) => {
      // The journal is intact (old or new); try again once it has grown by another `minRecords`.
      this.#compactAt = this.#journalRecords + c.minRecords;
      log('%s: compaction failed: %s', this.name, err);
    });
  }

  #liveEntries(): number {
    return 1 + (this.#horizon === undefined ? 0 : 1) + this.#data.size + this.#prepared.size + this.#finished.size;
  }

  async #runCompaction(): Promise<void> {
    await this.open();
    const journal = this.#journal;
    if (typeof journal.compact !== 'function') return;
    while (this.#inflight > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
    if (this.#closed) return;
    const records = this.#snapshot();
    await journal.compact(records);
    this.#journalRecords = records.length;
    if (this.#compaction) this.#compactAt = this.#compaction.minRecords;
    log('%s: journal compacted to %d records', this.name, records.length);
  }

  /** The smallest journal that rebuilds the current state (see {@link KvResourceManager.compact}). */
  #snapshot(): RmJournalRecord[] {
    const records: RmJournalRecord[] = [];
    if (this.#highest > 0) records.push({ t: 'epoch', e: this.#highest });
    if (this.#horizon !== undefined) records.push({ t: 'horizon', tx: this.#horizon });
    const data = [...this.#data];
    for (let i = 0; i < data.length; i += DATA_CHUNK) records.push({ t: 'data', w: data.slice(i, i + DATA_CHUNK) });
    const outcomes = [...this.#finished].map(
      ([tx, f]) => [tx, f.heuristic ? (f.outcome === 'committed' ? 'hc' : 'hr') : f.outcome === 'committed' ? 'c' : 'r'] as const,
    );
    for (let i = 0; i < outcomes.length; i += OUTCOME_CHUNK) records.push({ t: 'outcomes', o: outcomes.slice(i, i + OUTCOME_CHUNK) });
    for (const [tx, writes] of this.#prepared) records.push({ t: 'prepare', tx, w: [...writes] });
    return records;
  }

  // ---------------------------------------------------------------- branch time-outs

  /** Records work on an open branch; starts its idle timer the first time. */
  #touch(tx: TxId): void {
    const now = this.#clock.now();
    const idle = this.#idle.get(tx);
    if (idle) {
      idle.touched = now;
      return;
    }
    if (this.#closed) return;
    const entry: Idle = { touched: now, timer: undefined };
    this.#idle.set(tx, entry);
    this.#schedule(tx, entry, this.#branchTimeoutMs);
  }

  #schedule(tx: TxId, entry: Idle, ms: number): void {
    entry.timer = this.#clock.setTimeout(() => {
      if (this.#idle.get(tx) !== entry) return;
      const left = entry.touched + this.#branchTimeoutMs - this.#clock.now();
      if (left > 0) return this.#schedule(tx, entry, left);
      this.#inSerial(tx, () => this.#expire(tx, entry)).catch((err: unknown) => log('%s: rollback of idle %s failed: %s', this.name, tx, err));
    }, ms);
  }

  /** Rolls back an open branch that has been idle too long (presumed abort: it is not prepared). */
  async #expire(tx: TxId, entry: Idle): Promise<void> {
    if (this.#idle.get(tx) !== entry || !this.#active.has(tx) || this.#closed) return;
    const left = entry.touched + this.#branchTimeoutMs - this.#clock.now();
    if (left > 0) return this.#schedule(tx, entry, left); // work arrived while this waited its turn
    this.#expiring.add(tx);
    try {
      await this.#write({ t: 'rollback', tx });
      log('%s: %s rolled back after %d ms without work', this.name, tx, this.#branchTimeoutMs);
    } catch (err) {
      if (this.#idle.get(tx) === entry) this.#schedule(tx, entry, this.#branchTimeoutMs);
      throw err;
    } finally {
      this.#expiring.delete(tx);
    }
  }

  #untrack(tx: TxId): void {
    this.#idle.get(tx)?.timer?.cancel();
    this.#idle.delete(tx);
  }

  #replay(r: RmJournalRecord): void {
    switch (r.t) {
      case 'epoch':
        this.#highest = Math.max(this.#highest, r.e);
        this.#durableEpoch = this.#highest;
        return;
      case 'prepare':
        this.#prepared.set(r.tx as TxId, new Map(r.w));
        this.#active.delete(r.tx as TxId);
        this.#untrack(r.tx as TxId); // prepared branches never time out
        for (const [key] of r.w) this.#locks.set(key, r.tx as TxId);
        return;
      case 'commit': {
        const tx = r.tx as TxId;
        const writes = r.w ? new Map(r.w) : (this.#prepared.get(tx) ?? new Map<string, JsonValue>());
        for (const [k, v] of writes) this.#data.set(k, v);
        this.#finish(tx, 'committed', r.h === true);
        return;
      }
      case 'rollback':
        this.#finish(r.tx as TxId, 'rolledBack', r.h === true);
        return;
      case 'forget': {
        const f = this.#finished.get(r.tx as TxId);
        if (f) f.heuristic = false;
        return;
      }
      case 'data':
        for (const [k, v] of r.w) this.#data.set(k, v);
        return;
      case 'outcomes':
        for (const [tx, code] of r.o) this.#finish(tx as TxId, code.endsWith('c') ? 'committed' : 'rolledBack', code.startsWith('h'));
        return;
      case 'horizon':
        this.#forgot(r.tx as TxId);
        return;
    }
  }

  #finish(tx: TxId, outcome: BranchOutcome, heuristic: boolean): void {
    for (const key of (this.#prepared.get(tx) ?? this.#active.get(tx))?.keys() ?? []) {
      if (this.#locks.get(key) === tx) this.#locks.delete(key);
    }
    this.#prepared.delete(tx);
    this.#active.delete(tx);
    this.#untrack(tx);
    this.#finished.set(tx, { outcome, heuristic });
    if (this.#finished.size > this.#retention) {
      // Forget the oldest outcome that is not a heuristic one still to be reported.
      for (const [old, f] of this.#finished) {
        if (f.heuristic) continue;
        this.#finished.delete(old);
        this.#forgot(old);
        break;
      }
    }
  }

  /**
   * Raises the forgotten horizon to `tx`. Replaying the journal forgets the same outcomes again,
   * so the horizon needs a record of its own only when compaction drops the forgotten ones.
   */
  #forgot(tx: TxId): void {
    if (this.#horizon === undefined || compareTxIds(tx, this.#horizon) > 0) this.#horizon = tx;
  }

  /** Runs state transitions of one transaction one at a time. */
  #inSerial<T>(tx: TxId, fn: () => Promise<T>): Promise<T> {
    const previous = this.#serial.get(tx) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#serial.set(tx, tail);
    void tail.then(() => {
      if (this.#serial.get(tx) === tail) this.#serial.delete(tx);
    });
    return run;
  }
}

function compactionOptions(value: unknown): Required<RmCompactionOptions> | undefined {
  if (value === false) return undefined;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new InvalidArgumentError('compaction', `must be false or { ratio?, minRecords? } (got ${describe(value)})`);
  }
  const { ratio = 4, minRecords } = (value ?? {}) as RmCompactionOptions;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio <= 1) {
    throw new InvalidArgumentError('compaction.ratio', `must be a finite number above 1 (got ${describe(ratio)})`);
  }
  return { ratio, minRecords: positiveCount(minRecords, 10_000, 'compaction.minRecords') };
}
