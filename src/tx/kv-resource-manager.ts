/**
 * A small transactional key/value store that takes part in transactions as a resource manager:
 * the in-memory RM of the tests and the core of the file-journaled RM.
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { Epoch } from '../core/ids.js';
import type { JsonValue } from '../core/json.js';
import { StaleEpochError, TxConflictError, TxStateError } from './errors.js';
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
import { txId, type TxId } from './tx-id.js';

/** The resource-manager calls a fault hook sees. */
export type RmCall = 'prepare' | 'commit' | 'rollback' | 'recover' | 'forget';

/** Options of {@link KvResourceManager}. */
export interface KvResourceManagerOptions {
  /** The RM's name (see `RM_NAME_PATTERN`). */
  readonly name: string;
  /** Where its state is journaled. */
  readonly journal: RmJournal;
  /**
   * Test-only fault injection: runs before every manager call and may throw (the call fails),
   * hang (the call times out at the manager) or return a vote to force for `prepare`.
   */
  readonly faultInjection?: (call: RmCall, tx: TxId | undefined) => void | Vote | Promise<void | Vote>;
}

interface Finished {
  readonly outcome: BranchOutcome;
  heuristic: boolean;
}

/**
 * A transactional key/value store and {@link ResourceManager}. Work is staged per transaction
 * with {@link KvResourceManager.write} (a key written by one open transaction is locked against
 * others) and becomes visible to {@link KvResourceManager.read} when the branch commits.
 * Every state change is journaled before it is acknowledged; {@link KvResourceManager.open}
 * rebuilds the state from the journal.
 */
export class KvResourceManager implements ResourceManager {
  /** @inheritDoc */
  readonly name: string;
  readonly #journal: RmJournal;
  readonly #fault: KvResourceManagerOptions['faultInjection'];
  #highest = 0;
  readonly #data = new Map<string, JsonValue>();
  readonly #active = new Map<TxId, Map<string, JsonValue>>();
  readonly #prepared = new Map<TxId, Map<string, JsonValue>>();
  readonly #finished = new Map<TxId, Finished>();
  readonly #locks = new Map<string, TxId>();
  readonly #serial = new Map<TxId, Promise<unknown>>();
  #opened: Promise<void> | undefined;

  /** @throws {@link InvalidArgumentError} naming `name` or `journal` */
  constructor(options: KvResourceManagerOptions) {
    if (typeof options?.name !== 'string' || !RM_NAME_PATTERN.test(options.name)) {
      throw new InvalidArgumentError('name', 'must be 1-63 letters, digits, ".", "_" or "-"');
    }
    if (typeof options.journal?.append !== 'function') throw new InvalidArgumentError('journal', 'must be an RmJournal');
    this.name = options.name;
    this.#journal = options.journal;
    this.#fault = options.faultInjection;
  }

  /** Rebuilds the state from the journal. Idempotent; every other call waits for it. */
  open(): Promise<void> {
    this.#opened ??= this.#journal.load().then((records) => {
      for (const r of records) this.#replay(r);
    });
    return this.#opened;
  }

  /** Releases the journal. */
  async close(): Promise<void> {
    await this.#journal.close();
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
   * @throws {@link TxStateError} if the branch is prepared or finished
   */
  async join(tx: TxId): Promise<void> {
    const id = txId(tx);
    await this.open();
    this.#checkOpen(id);
    if (!this.#active.has(id)) this.#active.set(id, new Map());
  }

  /**
   * Stages `key = value` in the branch of `tx`.
   *
   * @throws {@link TxStateError} if the branch is prepared or finished
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
  }

  #checkOpen(tx: TxId): void {
    const done = this.#finished.get(tx);
    if (done) throw new TxStateError(tx, done.outcome, 'the branch is finished');
    if (this.#prepared.has(tx)) throw new TxStateError(tx, 'prepared', 'the branch is prepared; no more work');
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
        return 'readOnly';
      }
      await this.#write({ t: 'prepare', tx, w: [...writes] });
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
        if (!writes) return { outcome: 'committed', heuristic: false };
        await this.#write({ t: 'commit', tx, w: [...writes] });
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
      await this.#write({ t: 'rollback', tx });
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

  /** Opens, runs the fault hook, and checks and records the epoch (B1). */
  async #enter(call: RmCall, tx: TxId | undefined, epoch: Epoch): Promise<Vote | undefined> {
    await this.open();
    const forced = (await this.#fault?.(call, tx)) ?? undefined;
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw new InvalidArgumentError('epoch', 'must be a positive integer');
    if (epoch < this.#highest) throw new StaleEpochError(this.name, epoch, this.#highest);
    if (epoch > this.#highest) {
      this.#highest = epoch; // at once, so that concurrent calls from older epochs are refused
      await this.#journal.append([{ t: 'epoch', e: epoch }]);
    }
    return forced;
  }

  /** Journals a record durably, then applies it. */
  async #write(record: RmJournalRecord): Promise<void> {
    await this.#journal.append([record]);
    this.#replay(record);
  }

  #replay(r: RmJournalRecord): void {
    switch (r.t) {
      case 'epoch':
        this.#highest = Math.max(this.#highest, r.e);
        return;
      case 'prepare':
        this.#prepared.set(r.tx as TxId, new Map(r.w));
        this.#active.delete(r.tx as TxId);
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
    }
  }

  #finish(tx: TxId, outcome: BranchOutcome, heuristic: boolean): void {
    for (const key of (this.#prepared.get(tx) ?? this.#active.get(tx))?.keys() ?? []) {
      if (this.#locks.get(key) === tx) this.#locks.delete(key);
    }
    this.#prepared.delete(tx);
    this.#active.delete(tx);
    this.#finished.set(tx, { outcome, heuristic });
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
