/**
 * The proxy on every node (SPEC T3, T7): local code uses the transaction manager through it as if
 * the manager were local.
 *
 * @module
 */
import { systemClock, type Clock } from '../core/clock.js';
import { InvalidArgumentError, NonstopError, RemoteError } from '../core/errors.js';
import { describe, type NodeId } from '../core/ids.js';
import type { JsonValue } from '../core/json.js';
import { logger } from '../core/log.js';
import type { Storage } from '../contracts/storage.js';
import type { Transport } from '../contracts/transport.js';
import { parseActiveRecord } from './election.js';
import { TmUnavailableError, TxOutcomeUnknown, txErrorFromCode } from './errors.js';
import { refKey, type ResourceRef } from './resource-manager.js';
import { isResourceRef } from './resource-host.js';
import { txId, type TxId } from './tx-id.js';
import { TM_MESSAGES, type BeginOptions, type TxManager } from './tx-manager.js';
import { positiveMs } from './options.js';

const log = logger('tx').extend('proxy');

/** Options of {@link TxManagerProxy}. */
export interface TxManagerProxyOptions {
  /** This node's transport. */
  readonly transport: Transport;
  /** The shared storage, where the active manager's lease record names its node. */
  readonly storage: Storage;
  /** The clock of every timer (default: the system clock). */
  readonly clock?: Clock;
  /** Key prefix of the manager's records (default `tx`, as the manager's). */
  readonly prefix?: string;
  /** Time limit of one request to the manager (default 5,000 ms). */
  readonly requestTimeoutMs?: number;
  /**
   * How long a call keeps finding the active manager and retrying across a failover (default
   * 20,000 ms); then `begin` fails with `TmUnavailableError` and `commit` with `TxOutcomeUnknown`.
   */
  readonly retryTimeoutMs?: number;
  /** Pause between retries (default 100 ms). */
  readonly retryMs?: number;
  /**
   * The proxy remembers the participants enlisted through it in each transaction until the
   * transaction's `commit` or `rollback` call ends with a known outcome, so that after a failover
   * the new manager can settle the transaction with them; after one that ends with the outcome
   * open (`TxOutcomeUnknown`, `TmUnavailableError`) it keeps them for `outcome(tx)` or a retry. The participants of a transaction that is abandoned (neither
   * committed nor rolled back) are forgotten once no call for it has been made through this proxy
   * for this long (default 600,000 ms = 10 minutes; keep it above your transactions' time limit).
   * Forgetting them is safe: the manager rolls an abandoned transaction back at its time limit,
   * and a resource manager rolls back an open branch that stays idle.
   */
  readonly abandonAfterMs?: number;
  /** This node's manager, if it runs one: called directly (no transport hop) while it is active. */
  readonly local?: TxManager;
}

/** Codes after which the proxy looks for the active manager again and retries. */
const RETRY_CODES = new Set(['ERR_TX_NOT_ACTIVE', 'ERR_UNREACHABLE', 'ERR_TIMEOUT', 'ERR_NO_HANDLER', 'ERR_TX_OUTCOME_UNKNOWN', 'ERR_STORAGE_UNAVAILABLE']);

/**
 * The transaction manager as local code sees it. Finds the active manager through its lease
 * record in shared storage (a logical node name, resolved by the transport), forwards every call,
 * and after a failover finds the new manager by itself: `begin` is retried, and a `commit` whose
 * answer was lost is asked again of the new manager, which answers from its log (or by settling
 * the transaction with its participants). Callers get {@link TxOutcomeUnknown} only when no
 * manager could tell the outcome within `retryTimeoutMs`.
 *
 * ```ts
 * const tx = await proxy.begin();
 * await bankA.write(tx, 'alice', 90);
 * await proxy.enlist(tx, { node: 'n1', rm: 'bank-a' });
 * await proxy.commit(tx);
 * ```
 */
export class TxManagerProxy {
  readonly #transport: Transport;
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #activeKey: string;
  readonly #requestTimeoutMs: number;
  readonly #retryTimeoutMs: number;
  readonly #retryMs: number;
  readonly #local: TxManager | undefined;
  readonly #abandonAfterMs: number;
  /** Participants per transaction, least recently used first. */
  readonly #participants = new Map<TxId, Tracked>();
  #target: NodeId | undefined;

  /** @throws {@link InvalidArgumentError} naming the invalid option */
  constructor(options: TxManagerProxyOptions) {
    if (typeof options?.transport?.request !== 'function') throw new InvalidArgumentError('transport', 'must be a Transport');
    if (typeof options.storage?.get !== 'function') throw new InvalidArgumentError('storage', 'must be a Storage');
    this.#transport = options.transport;
    this.#storage = options.storage;
    this.#clock = options.clock ?? systemClock;
    this.#activeKey = `${options.prefix ?? 'tx'}/active`;
    this.#requestTimeoutMs = positiveMs(options.requestTimeoutMs, 5_000, 'requestTimeoutMs');
    this.#retryTimeoutMs = positiveMs(options.retryTimeoutMs, 20_000, 'retryTimeoutMs');
    this.#retryMs = positiveMs(options.retryMs, 100, 'retryMs');
    this.#abandonAfterMs = positiveMs(options.abandonAfterMs, 600_000, 'abandonAfterMs');
    this.#local = options.local;
  }

  /** The number of transactions whose participants this proxy remembers (see `abandonAfterMs`). */
  get trackedTransactions(): number {
    return this.#participants.size;
  }

  /** The node of the active manager according to shared storage (`undefined`: none yet). */
  async activeNode(): Promise<NodeId | undefined> {
    this.#target = parseActiveRecord(await this.#storage.get(this.#activeKey))?.node;
    return this.#target;
  }

  /**
   * Begins a transaction, retrying across a failover.
   *
   * @throws {@link TmUnavailableError} if no active manager answered within `retryTimeoutMs`
   */
  async begin(options: BeginOptions = {}): Promise<TxId> {
    const payload = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
    const tx = txId(await this.#forward(TM_MESSAGES.begin, payload, undefined), 'reply');
    this.#track(tx);
    return tx;
  }

  /**
   * Enlists a resource manager (by node and name) in `tx`.
   *
   * @throws {@link TxStateError} after prepare; {@link TxAbortedError} if the transaction was aborted
   */
  async enlist(tx: TxId, rm: ResourceRef): Promise<void> {
    const id = txId(tx);
    if (!isResourceRef(rm)) throw new InvalidArgumentError('rm', `must be { node, rm } (got ${describe(rm)})`);
    const t = this.#track(id);
    t.refs.set(refKey(rm), { node: rm.node, rm: rm.rm });
    t.calls++;
    try {
      await this.#forward(TM_MESSAGES.enlist, { tx: id, rm: { node: rm.node, rm: rm.rm }, rms: [...t.refs.values()].map(plain) }, id);
    } finally {
      this.#done(id, t, false);
    }
  }

  /**
   * Commits `tx`. A lost answer is asked again of whichever manager is active. If it ends with
   * {@link TxOutcomeUnknown}, the proxy keeps the transaction's participants, so that a later
   * `outcome(tx)` (or a retried `commit`) through this proxy can settle it.
   *
   * @throws {@link TxAbortedError} if it was rolled back; {@link TxOutcomeUnknown} if no manager
   *   could tell the outcome within `retryTimeoutMs`
   */
  async commit(tx: TxId): Promise<void> {
    await this.#end(TM_MESSAGES.commit, tx);
  }

  /**
   * Rolls `tx` back.
   *
   * @throws {@link TxStateError} if it committed or its commit has begun
   */
  async rollback(tx: TxId): Promise<void> {
    await this.#end(TM_MESSAGES.rollback, tx);
  }

  /**
   * The outcome of a finished transaction. The participants this proxy still remembers for it
   * (those of a transaction whose `commit` or `rollback` ended with the outcome open, or that is
   * still under way) are passed along with `participants`; pass them yourself if this proxy did not
   * run it. The manager never presumes an abort without participants: a transaction it no longer
   * remembers (see `TxManagerOptions.outcomeRetention`, or after a failover) and for which no
   * participant is named answers {@link TxOutcomeUnknown} — a one-phase commit leaves no record
   * in its log.
   *
   * @throws {@link TxOutcomeUnknown} if it cannot be known yet — or any more: a participant has
   *   forgotten it (see `KvResourceManagerOptions.outcomeRetention`) and no other remembers a
   *   commit — or if no participant is known and the manager does not remember the transaction
   */
  async outcome(tx: TxId, participants: readonly ResourceRef[] = []): Promise<'committed' | 'aborted'> {
    const id = txId(tx);
    const refs = [...(this.#participants.get(id)?.refs.values() ?? []), ...participants].map(plain);
    const answer = await this.#forward(TM_MESSAGES.outcome, { tx: id, rms: refs }, id);
    return answer === 'committed' ? 'committed' : 'aborted';
  }

  /**
   * The participants remembered for `tx` (a new entry if none), marked as used now; first forgets
   * those of transactions abandoned for longer than `abandonAfterMs` with no call under way.
   */
  #track(tx: TxId): Tracked {
    const now = this.#clock.now();
    for (const [id, t] of this.#participants) {
      if (now - t.used < this.#abandonAfterMs) break; // least recently used first: the rest are newer
      if (t.calls === 0 && id !== tx) this.#participants.delete(id);
    }
    const t = this.#participants.get(tx) ?? { refs: new Map<string, ResourceRef>(), used: now, calls: 0 };
    this.#participants.delete(tx);
    t.used = now;
    this.#participants.set(tx, t);
    return t;
  }

  /** A call for `tx` ended; `finished`: the transaction's commit or rollback is over, forget it. */
  #done(tx: TxId, t: Tracked, finished: boolean): void {
    t.calls--;
    t.used = this.#clock.now();
    if (finished && t.calls === 0 && this.#participants.get(tx) === t) this.#participants.delete(tx);
  }

  /**
   * Forwards a commit or rollback of `tx` with the participants enlisted through this proxy, and
   * forgets them once it ends with a known outcome. While the outcome is open (`TxOutcomeUnknown`,
   * `TmUnavailableError`: a one-phase commit may have gone through, or no manager answered) they are
   * kept: `outcome(tx)` and a retried `commit` or `rollback` need them to settle it.
   */
  async #end(type: string, tx: TxId): Promise<void> {
    const id = txId(tx);
    const t = this.#track(id);
    t.calls++;
    let settled = false;
    try {
      await this.#forward(type, { tx: id, rms: [...t.refs.values()].map(plain) }, id);
      settled = true;
    } catch (err) {
      settled = !isOpenOutcome(err);
      throw err;
    } finally {
      this.#done(id, t, settled);
    }
  }

  /** Sends one manager call, finding the active manager again and retrying after failures. */
  async #forward(type: string, payload: { readonly [key: string]: JsonValue }, tx: TxId | undefined): Promise<JsonValue> {
    const deadline = this.#clock.now() + this.#retryTimeoutMs;
    let last: unknown;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        if (this.#clock.now() >= deadline) break;
        await this.#clock.sleep(this.#retryMs);
      }
      try {
        const target = attempt === 0 && this.#target ? this.#target : await this.activeNode();
        if (!target) {
          last = new TmUnavailableError('no transaction manager is active');
          continue;
        }
        if (this.#local?.isActive && target === this.#local.node) return await this.#callLocal(this.#local, type, payload);
        return await this.#transport.request(target, type, payload, { timeoutMs: this.#requestTimeoutMs });
      } catch (err) {
        const code = err instanceof RemoteError ? err.remoteCode : err instanceof NonstopError ? err.code : 'ERR_UNKNOWN';
        if (!RETRY_CODES.has(code)) {
          throw err instanceof RemoteError ? (txErrorFromCode(code, tx ?? '-', err.message) ?? err) : err;
        }
        log('%s failed (%s); looking for the active manager again', type, code);
        last = err;
        this.#target = undefined;
      }
    }
    if (type === TM_MESSAGES.begin) throw new TmUnavailableError('no transaction manager answered in time', { cause: last });
    throw new TxOutcomeUnknown(tx ?? '-', 'no transaction manager could tell the outcome in time', { cause: last });
  }

  async #callLocal(tm: TxManager, type: string, payload: { readonly [key: string]: JsonValue }): Promise<JsonValue> {
    const tx = payload['tx'] === undefined ? undefined : txId(payload['tx']);
    const rms = Array.isArray(payload['rms']) ? (payload['rms'] as ResourceRef[]) : [];
    switch (type) {
      case TM_MESSAGES.begin:
        return tm.begin(payload['timeoutMs'] === undefined ? {} : { timeoutMs: Number(payload['timeoutMs']) });
      case TM_MESSAGES.enlist:
        await tm.enlist(tx!, payload['rm'] as unknown as ResourceRef, rms);
        return null;
      case TM_MESSAGES.commit:
        await tm.commit(tx!, rms);
        return 'committed';
      case TM_MESSAGES.rollback:
        await tm.rollback(tx!, rms);
        return null;
      default:
        return tm.outcome(tx!, rms);
    }
  }
}

/** What the proxy remembers of a transaction. */
interface Tracked {
  readonly refs: Map<string, ResourceRef>;
  /** When it was last used (the proxy's clock). */
  used: number;
  /** Calls for it under way. */
  calls: number;
}

/** Whether a commit or rollback ended without an outcome: the transaction's participants are still needed. */
function isOpenOutcome(err: unknown): boolean {
  return err instanceof TxOutcomeUnknown || err instanceof TmUnavailableError;
}

function plain(ref: ResourceRef): { node: string; rm: string } {
  return { node: ref.node, rm: ref.rm };
}
