/**
 * The transaction manager (SPEC T1–T6, B1, B5): two-phase commit with presumed abort, its log on
 * a fenced Storage stream, one active manager per cluster, and recovery after a failover.
 *
 * @module
 */
import { systemClock, type Clock, type Timer } from '../core/clock.js';
import { FencedError, InvalidArgumentError, NonstopError } from '../core/errors.js';
import { EventEmitter } from '../core/events.js';
import { nodeId, type Epoch, type NodeId } from '../core/ids.js';
import type { JsonValue } from '../core/json.js';
import { logger } from '../core/log.js';
import type { Storage } from '../contracts/storage.js';
import type { Transport } from '../contracts/transport.js';
import { decodeJson } from '../core/codec.js';
import { TmElection } from './election.js';
import { TmNotActiveError, TxAbortedError, TxNotFoundError, TxOutcomeForgottenError, TxOutcomeUnknown, TxStateError } from './errors.js';
import { RecentOutcomes } from './recent-outcomes.js';
import { refKey, type BranchResult, type ResourceRef } from './resource-manager.js';
import { isResourceRef, type ResourceHost, type RmOp, type RmReply } from './resource-host.js';
import { epochOfTx, makeTxId, seqOfTx, txId, type TxId } from './tx-id.js';
import { TxLog } from './tx-log.js';
import { positiveCount, positiveMs } from './options.js';

const log = logger('tx');

/** Test-only crash points (see {@link TxManagerOptions.faultInjection}). */
export type TxCrashPoint = 'beforeDecision' | 'afterDecision' | 'midCommit' | 'duringRecovery' | 'duringTrim';

/** A source of failure notices, such as a `RingMonitor` (anything with `on('nodeFailed', …)`). */
export interface NodeFailureSource {
  /** Subscribes to failure notices. */
  on(event: 'nodeFailed', listener: (node: NodeId) => void): unknown;
  /** Unsubscribes. */
  off(event: 'nodeFailed', listener: (node: NodeId) => void): unknown;
}

/** Options of {@link TxManager}. */
export interface TxManagerOptions {
  /** This node's transport (the manager serves proxies through it). */
  readonly transport: Transport;
  /** The shared storage: lease, fence, log and RM registry live here. */
  readonly storage: Storage;
  /** This node's resource host (used to call resource managers). */
  readonly resources: ResourceHost;
  /** The clock of every timer (default: the system clock). */
  readonly clock?: Clock;
  /** Key prefix of the manager's records: `<prefix>/active`, `<prefix>/fence`, `<prefix>/log` (default `tx`). */
  readonly prefix?: string;
  /** The lease: a manager whose lease record does not change for this long is replaced (default 3,000 ms). */
  readonly leaseMs?: number;
  /** A transaction not committed within this time is rolled back (default 30,000 ms). */
  readonly txTimeoutMs?: number;
  /** Time limit of one call to a resource manager (default 2,000 ms). */
  readonly rmTimeoutMs?: number;
  /** Pause between retries of unfinished commits (default 250 ms). */
  readonly retryMs?: number;
  /**
   * How often the active manager asks every registered resource manager for in-doubt branches,
   * and retries rollbacks that did not reach a participant (default 2,000 ms).
   */
  readonly recoveryIntervalMs?: number;
  /**
   * How many outcomes of finished transactions the manager remembers, to answer duplicate and late
   * calls at once (default 100,000; the oldest is forgotten first). Forgetting is safe: a committed
   * transaction stays in the manager's in-doubt table, whatever this limit, until every
   * participant has acknowledged the commit, and from then on its participants remember the
   * outcome (their `outcomeRetention`); a question about a forgotten transaction is settled with
   * the participants the caller names, as for a transaction of an earlier epoch (if the caller
   * names none, the answer is `TxOutcomeUnknown`, never a presumed abort). Once a participant has
   * forgotten it too, the answer is `TxOutcomeUnknown` unless another one remembers a commit.
   */
  readonly outcomeRetention?: number;
  /**
   * How many rollbacks that could not reach their participant (unreachable node, time-out) the
   * manager keeps to retry at each recovery pass (default 10,000; beyond it the oldest is dropped).
   * Dropping one is safe: a prepared branch is found and rolled back by the recovery passes
   * (presumed abort), and an unprepared one is rolled back by its resource manager when idle (see
   * `KvResourceManagerOptions.branchTimeoutMs`).
   */
  readonly maxPendingRollbacks?: number;
  /** Failure notices (e.g. a `RingMonitor`): the failed node's manager is replaced at once. */
  readonly failures?: NodeFailureSource;
  /** Test only: called at each crash point; a test process kills itself there. Never set in production. */
  readonly faultInjection?: {
    /** Called when the manager reaches `point`. */
    readonly at?: (point: TxCrashPoint) => void;
  };
}

/** Options of {@link TxManager.begin}. */
export interface BeginOptions {
  /** Roll back if not committed within this many ms (default: the manager's `txTimeoutMs`). */
  readonly timeoutMs?: number;
}

/** A heuristic outcome: a resource manager decided a branch alone (SPEC T6). */
export interface HeuristicReport {
  /** The transaction. */
  readonly tx: TxId;
  /** The resource manager. */
  readonly rm: ResourceRef;
  /** What the manager decided (`'aborted'` under presumed abort if there was no decision). */
  readonly decision: 'committed' | 'aborted';
  /** What the resource manager did. */
  readonly outcome: 'committed' | 'rolledBack';
  /** `true` if the two agree (a heuristic decision that happened to be right). */
  readonly matches: boolean;
}

/** What a manager reports when its recovery after taking over is done. */
export interface RecoveryReport {
  /** The manager's epoch. */
  readonly epoch: Epoch;
  /** Transactions with a commit record whose participants were told to commit. */
  readonly committed: number;
  /** In-doubt branches without a commit record that were rolled back. */
  readonly aborted: number;
  /** Branches that could not be resolved yet (unreachable resource managers); retried. */
  readonly unresolved: number;
  /** Milliseconds from election to this report, on the manager's clock. */
  readonly durationMs: number;
}

/** Events of {@link TxManager}. */
export interface TxManagerEvents {
  /** This node's manager became the active one. */
  tmActivated: [
    info: {
      /** This node. */
      readonly node: NodeId;
      /** The epoch it took. */
      readonly epoch: Epoch;
    },
  ];
  /** This node's manager stopped being the active one. */
  tmLost: [
    info: {
      /** This node. */
      readonly node: NodeId;
      /** The epoch it held. */
      readonly epoch: Epoch;
      /** Why (superseded, lease expired, stopped). */
      readonly reason: string;
    },
  ];
  /** Recovery began: the log was read. */
  recoveryStarted: [
    info: {
      /** The new epoch. */
      readonly epoch: Epoch;
      /** Transactions with a commit record that not every participant has acknowledged. */
      readonly decided: number;
    },
  ];
  /** Recovery finished its first pass. */
  recoveryDone: [report: RecoveryReport];
  /** A resource manager decided a branch alone. */
  heuristicOutcome: [report: HeuristicReport];
  /** An internal step failed (it is retried); for logging. */
  error: [error: Error];
}

/** The state of a live transaction. */
export type LiveTxState = 'active' | 'preparing' | 'committing' | 'aborting';

/** One line of {@link TxStatus.live}. */
export interface LiveTxInfo {
  /** The transaction. */
  readonly tx: TxId;
  /** Its state. */
  readonly state: LiveTxState;
  /** Its enlisted resource managers. */
  readonly participants: readonly ResourceRef[];
  /** Milliseconds since it began. */
  readonly ageMs: number;
}

/** One line of {@link TxStatus.inDoubt}: committed in the log, not yet acknowledged by every participant. */
export interface InDoubtTxInfo {
  /** The transaction. */
  readonly tx: TxId;
  /** Participants that have not acknowledged the commit. */
  readonly pending: readonly ResourceRef[];
}

/** A snapshot of a manager's state. */
export interface TxStatus {
  /** This node. */
  readonly node: NodeId;
  /** Whether this manager is the active one and ready. */
  readonly active: boolean;
  /** Its epoch while active. */
  readonly epoch: Epoch | undefined;
  /** Live transactions. */
  readonly live: readonly LiveTxInfo[];
  /** Committed transactions whose participants have not all acknowledged. */
  readonly inDoubt: readonly InDoubtTxInfo[];
  /** Heuristic outcomes reported so far. */
  readonly heuristics: readonly HeuristicReport[];
  /** Storage writes of the log in this epoch. */
  readonly forcedWrites: number;
  /** Rollbacks not yet delivered to their participant, retried at each recovery pass (at most `maxPendingRollbacks`). */
  readonly pendingRollbacks: number;
}

interface LiveTx {
  readonly id: TxId;
  state: LiveTxState;
  readonly participants: Map<string, ResourceRef>;
  readonly startedAt: number;
  timer: Timer | undefined;
  commit: Promise<void> | undefined;
}

interface Decided {
  readonly offset: number;
  readonly pending: Map<string, ResourceRef>;
  /** An end record is queued or written. */
  ending: boolean;
}

interface Epochal {
  readonly epoch: Epoch;
  readonly log: TxLog;
  readonly electedAt: number;
  ready: boolean;
  seq: number;
  logEnd: number;
  trimmedTo: number;
  endBatch: TxId[];
  endTimer: Timer | undefined;
  recoveryTimer: Timer | undefined;
  /**
   * Commit records being forced whose decision is not in `#decided` yet, with the log's end when
   * each was queued (the record lands at or after it): the log is not trimmed past it meanwhile.
   */
  readonly forcing: Map<TxId, number>;
}

/** The manager message types proxies send. */
export const TM_MESSAGES = {
  begin: 'tx.begin',
  enlist: 'tx.enlist',
  commit: 'tx.commit',
  rollback: 'tx.rollback',
  outcome: 'tx.outcome',
} as const;

const TRIM_EVERY = 64;

/** One resource-manager call of a batch. */
interface Work {
  readonly tx: TxId;
  readonly ref: ResourceRef;
  readonly op: 'commit' | 'rollback' | 'forget';
}
const RECOVERY_CHUNK = 500;

/**
 * The transaction manager. Run one on every node that may host it; exactly one is active at a
 * time (the others are candidates that take over when its lease runs out or its node is declared
 * failed). Applications use it through a `TxManagerProxy` on their node.
 *
 * Protocol: `begin` → `enlist` participants → `commit`: prepare all; if any refuses, roll back
 * (presumed abort: nothing is logged); otherwise force a commit record to the log (shared with
 * concurrent commits: group commit), then tell every participant to commit; once all have
 * acknowledged, an end record lets the log be trimmed. One participant: one-phase commit, no log
 * write. Read-only participants skip phase two.
 *
 * Events: `tmActivated`, `tmLost`, `recoveryStarted`, `recoveryDone`, `heuristicOutcome`, `error`.
 */
export class TxManager extends EventEmitter<TxManagerEvents> {
  /** This node. */
  readonly node: NodeId;
  readonly #transport: Transport;
  readonly #storage: Storage;
  readonly #resources: ResourceHost;
  readonly #clock: Clock;
  readonly #prefix: string;
  readonly #txTimeoutMs: number;
  readonly #rmTimeoutMs: number;
  readonly #retryMs: number;
  readonly #recoveryIntervalMs: number;
  readonly #failures: NodeFailureSource | undefined;
  readonly #fault: TxManagerOptions['faultInjection'];
  readonly #election: TmElection;
  readonly #live = new Map<TxId, LiveTx>();
  readonly #decided = new Map<TxId, Decided>();
  readonly #recent: RecentOutcomes;
  readonly #maxPendingRollbacks: number;
  /** Rollbacks that did not reach their participant yet, oldest first (by `<tx> <node>/<rm>`). */
  readonly #rollbacks = new Map<string, Work>();
  readonly #heuristics: HeuristicReport[] = [];
  readonly #unhandle: (() => void)[] = [];
  #e: Epochal | undefined;
  #started = false;
  readonly #onFailed = (node: NodeId): void => this.#election.nodeFailed(node);

  /** @throws {@link InvalidArgumentError} naming the invalid option */
  constructor(options: TxManagerOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'must be an object');
    if (typeof options.transport?.request !== 'function') throw new InvalidArgumentError('transport', 'must be a Transport');
    if (typeof options.storage?.append !== 'function') throw new InvalidArgumentError('storage', 'must be a Storage');
    if (typeof options.resources?.invoke !== 'function') throw new InvalidArgumentError('resources', 'must be a ResourceHost');
    this.node = nodeId(options.transport.self, 'transport.self');
    this.#transport = options.transport;
    this.#storage = options.storage;
    this.#resources = options.resources;
    this.#clock = options.clock ?? systemClock;
    this.#prefix = options.prefix ?? 'tx';
    const leaseMs = positiveMs(options.leaseMs, 3_000, 'leaseMs');
    this.#txTimeoutMs = positiveMs(options.txTimeoutMs, 30_000, 'txTimeoutMs');
    this.#rmTimeoutMs = positiveMs(options.rmTimeoutMs, 2_000, 'rmTimeoutMs');
    this.#retryMs = positiveMs(options.retryMs, 250, 'retryMs');
    this.#recoveryIntervalMs = positiveMs(options.recoveryIntervalMs, 2_000, 'recoveryIntervalMs');
    this.#recent = new RecentOutcomes(positiveCount(options.outcomeRetention, 100_000, 'outcomeRetention'));
    this.#maxPendingRollbacks = positiveCount(options.maxPendingRollbacks, 10_000, 'maxPendingRollbacks');
    this.#failures = options.failures;
    this.#fault = options.faultInjection;
    this.#election = new TmElection({
      node: this.node,
      storage: this.#storage,
      clock: this.#clock,
      activeKey: `${this.#prefix}/active`,
      fenceKey: `${this.#prefix}/fence`,
      leaseMs,
      log: log.extend('election'),
    });
    this.#election.on('elected', (epoch) => void this.#activate(epoch).catch((err: unknown) => this.#report(err)));
    this.#election.on('lost', (epoch, reason) => this.#deactivate(epoch, reason));
  }

  /** Whether this manager is the active one and has read its log. */
  get isActive(): boolean {
    return this.#e?.ready === true;
  }

  /** Starts the candidate and serves proxies. Idempotent. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const serve = (type: string, fn: (p: Record<string, JsonValue>) => Promise<JsonValue>): void => {
      this.#unhandle.push(
        this.#transport.handle(type, (message) => {
          const p = message.payload;
          if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new InvalidArgumentError('payload', 'must be an object');
          return fn(p as Record<string, JsonValue>);
        }),
      );
    };
    serve(TM_MESSAGES.begin, async (p) => this.begin(p['timeoutMs'] === undefined ? {} : { timeoutMs: Number(p['timeoutMs']) }));
    serve(TM_MESSAGES.enlist, async (p) => {
      await this.enlist(txId(p['tx']), refOf(p['rm'], 'rm'), refsOf(p['rms']));
      return null;
    });
    serve(TM_MESSAGES.commit, async (p) => {
      await this.commit(txId(p['tx']), refsOf(p['rms']));
      return 'committed';
    });
    serve(TM_MESSAGES.rollback, async (p) => {
      await this.rollback(txId(p['tx']), refsOf(p['rms']));
      return null;
    });
    serve(TM_MESSAGES.outcome, async (p) => this.outcome(txId(p['tx']), refsOf(p['rms'])));
    this.#failures?.on('nodeFailed', this.#onFailed);
    this.#election.start();
  }

  /** Stops serving and stops the candidate (an active manager's lease then runs out). */
  async close(): Promise<void> {
    this.#failures?.off('nodeFailed', this.#onFailed);
    for (const u of this.#unhandle.splice(0)) u();
    await this.#election.stop();
  }

  /** Same as {@link TxManager.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Another component declared `node` failed; if it hosts the active manager, take over now
   * instead of waiting for its lease to run out (the integration point for a `RingMonitor`).
   */
  nodeFailed(node: NodeId): void {
    this.#election.nodeFailed(node);
  }

  /**
   * Begins a transaction.
   *
   * @throws {@link TmNotActiveError} if this manager is not the active one
   */
  async begin(options: BeginOptions = {}): Promise<TxId> {
    const e = this.#ready();
    const timeoutMs = positiveMs(options.timeoutMs, this.#txTimeoutMs, 'timeoutMs');
    const id = makeTxId(e.epoch, ++e.seq);
    const tx: LiveTx = { id, state: 'active', participants: new Map(), startedAt: this.#clock.now(), timer: undefined, commit: undefined };
    tx.timer = this.#clock.setTimeout(() => {
      if (tx.state === 'active' && this.#live.get(id) === tx) void this.#abort(tx, 'aborted').catch(() => undefined);
    }, timeoutMs);
    this.#live.set(id, tx);
    return id;
  }

  /**
   * Enlists a resource manager in `tx`.
   *
   * @param known - participants the caller knows of (used only for a transaction of an older epoch)
   * @throws {@link TxStateError} after prepare or once finished; {@link TxAbortedError} if it was aborted
   */
  async enlist(tx: TxId, rm: ResourceRef, known: readonly ResourceRef[] = []): Promise<void> {
    this.#ready();
    const id = txId(tx);
    const ref = refOf(rm, 'rm');
    const live = this.#live.get(id);
    if (live) {
      if (live.state !== 'active') throw new TxStateError(id, live.state, 'cannot enlist after commit or rollback began');
      live.participants.set(refKey(ref), ref);
      return;
    }
    const finished = await this.#finishedOutcome(id, [...known, ref]);
    throw finished === 'committed'
      ? new TxStateError(id, 'committed', 'the transaction is finished')
      : new TxAbortedError(id, finished === 'rolledBack' ? 'the transaction was rolled back' : 'the transaction was aborted');
  }

  /**
   * Commits `tx`. Resolves once the outcome is decided and durable; participants that could not
   * be told yet are told by retries.
   *
   * @param known - participants the caller knows of (used only for a transaction that is no longer
   *   live here: see {@link TxManager.outcome})
   * @throws {@link TxAbortedError} if it was rolled back instead; {@link TxStateError} after an
   *   application rollback; {@link TxOutcomeUnknown} if the outcome cannot be known yet (or, for a
   *   transaction not live here, without its participants)
   */
  async commit(tx: TxId, known: readonly ResourceRef[] = []): Promise<void> {
    this.#ready();
    const id = txId(tx);
    const live = this.#live.get(id);
    if (live) {
      if (live.state === 'aborting') throw new TxAbortedError(id, 'the transaction is being rolled back');
      live.commit ??= this.#commit(live);
      return live.commit;
    }
    const finished = await this.#finishedOutcome(id, known);
    if (finished === 'committed') return;
    if (finished === 'rolledBack') throw new TxStateError(id, 'rolledBack', 'commit after rollback');
    throw new TxAbortedError(id, 'the transaction was aborted');
  }

  /**
   * Rolls `tx` back.
   *
   * @param known - participants the caller knows of (used only for a transaction that is no longer
   *   live here: see {@link TxManager.outcome})
   * @throws {@link TxStateError} if it committed or its commit has begun; {@link TxOutcomeUnknown}
   *   for a transaction not live here whose outcome cannot be settled (as {@link TxManager.outcome})
   */
  async rollback(tx: TxId, known: readonly ResourceRef[] = []): Promise<void> {
    this.#ready();
    const id = txId(tx);
    const live = this.#live.get(id);
    if (live) {
      if (live.state === 'preparing' || live.state === 'committing') throw new TxStateError(id, live.state, 'commit in progress');
      await this.#abort(live, 'rolledBack');
      return;
    }
    if ((await this.#finishedOutcome(id, known)) === 'committed') throw new TxStateError(id, 'committed', 'rollback after commit');
  }

  /**
   * The outcome of a transaction that is no longer live: from memory, from the log, or (for one
   * that has no commit record) by rolling back its participants, which also tells whether a
   * one-phase commit went through. Live transactions answer with {@link TxOutcomeUnknown}.
   *
   * Without participants (`known` empty), only what this manager remembers answers: its recent
   * outcomes (`outcomeRetention`) and its in-doubt table (commit records not yet ended). For any
   * other transaction the answer is {@link TxOutcomeUnknown} — never a presumed `'aborted'`: a
   * one-phase commit leaves no commit record, so the absence of one does not exclude a commit (nor
   * does this manager remember, once the transaction is out of its recent outcomes or after a
   * failover, whether it had one participant or more). Pass the participants to settle it.
   *
   * @param known - the participants the caller knows of
   * @throws {@link TxOutcomeUnknown} while the transaction is live, if it is not remembered and no
   *   participant is named, if a participant cannot be reached, or if a participant has forgotten
   *   the outcome (`TxOutcomeForgottenError`) and no other remembers a commit
   */
  async outcome(tx: TxId, known: readonly ResourceRef[] = []): Promise<'committed' | 'aborted'> {
    this.#ready();
    const id = txId(tx);
    const live = this.#live.get(id);
    if (live) throw new TxOutcomeUnknown(id, `still ${live.state}`);
    return (await this.#finishedOutcome(id, known)) === 'committed' ? 'committed' : 'aborted';
  }

  /** A snapshot of live and in-doubt transactions and reported heuristics. */
  status(): TxStatus {
    const now = this.#clock.now();
    return {
      node: this.node,
      active: this.isActive,
      epoch: this.#e?.epoch,
      live: [...this.#live.values()].map((t) => ({ tx: t.id, state: t.state, participants: [...t.participants.values()], ageMs: now - t.startedAt })),
      inDoubt: [...this.#decided].map(([tx, d]) => ({ tx, pending: [...d.pending.values()] })),
      heuristics: [...this.#heuristics],
      forcedWrites: this.#e?.log.forcedWrites ?? 0,
      pendingRollbacks: this.#rollbacks.size,
    };
  }

  // ---------------------------------------------------------------- commit protocol

  async #commit(tx: LiveTx): Promise<void> {
    const e = this.#ready();
    tx.timer?.cancel();
    tx.state = 'preparing';
    const refs = [...tx.participants.values()];
    if (refs.length === 0) return this.#finish(tx, 'committed');
    if (refs.length === 1) return this.#commitOnePhase(e, tx, refs[0]!);
    const votes = await Promise.all(refs.map((ref) => this.#call(e, ref, 'prepare', tx.id).then((r) => (r.ok ? r.value : 'refused'), () => 'refused')));
    if (votes.some((v) => v !== 'prepared' && v !== 'readOnly')) {
      await this.#abort(tx, 'aborted');
      throw new TxAbortedError(tx.id, 'a resource manager refused to prepare');
    }
    const toCommit = refs.filter((_, i) => votes[i] === 'prepared');
    if (toCommit.length === 0) return this.#finish(tx, 'committed');
    this.#fault?.at?.('beforeDecision');
    // The record can be in the log (and a trim under way) a few steps before the decision is in
    // #decided, e.g. when an end record shares its flush: `forcing` keeps the trim below it.
    e.forcing.set(tx.id, e.logEnd);
    try {
      const offset = await this.#forceDecision(e, tx, toCommit);
      e.logEnd = Math.max(e.logEnd, offset + 1);
      this.#decided.set(tx.id, { offset, pending: new Map(toCommit.map((r) => [refKey(r), r])), ending: false });
    } finally {
      e.forcing.delete(tx.id);
    }
    tx.state = 'committing';
    this.#fault?.at?.('afterDecision');
    this.#finish(tx, 'committed');
    await this.#drive(e, tx.id, true);
  }

  /**
   * Forces the commit record. A write whose outcome is unknown (storage unavailable, timeout) is
   * repeated — a second commit record of the same decision is harmless — until one succeeds or the
   * manager is fenced. Fenced after an unknown attempt: only the successor, reading the log, knows.
   */
  async #forceDecision(e: Epochal, tx: LiveTx, rms: readonly ResourceRef[]): Promise<number> {
    let ambiguous: unknown;
    for (;;) {
      try {
        return await e.log.append({ t: 'commit', tx: tx.id, rms });
      } catch (err) {
        if (err instanceof FencedError || this.#e !== e) {
          this.#live.delete(tx.id);
          if (ambiguous === undefined && err instanceof FencedError) {
            // Not in the log, and the successor's log cannot receive it: the successor aborts it.
            throw new TxAbortedError(tx.id, 'the manager was replaced before the decision was forced', { cause: err });
          }
          throw new TxOutcomeUnknown(tx.id, 'the commit record may or may not have been written', { cause: ambiguous ?? err });
        }
        ambiguous = err;
        this.#report(err);
        await this.#clock.sleep(this.#retryMs);
      }
    }
  }

  async #commitOnePhase(e: Epochal, tx: LiveTx, ref: ResourceRef): Promise<void> {
    tx.state = 'committing';
    let reply: RmReply | undefined;
    try {
      reply = await this.#call(e, ref, 'commitOnePhase', tx.id);
    } catch {
      reply = undefined;
    }
    let result: BranchResult | undefined = reply?.ok ? (reply.value as unknown as BranchResult) : undefined;
    // Unknown (timeout, error): ask the RM with a rollback, which answers what the branch became.
    // A TxOutcomeForgottenError — to the commit or to a rollback — is no answer either: the RM does
    // not know the branch and it is below its forgotten horizon. This manager did send a commit
    // (a duplicate of which may still arrive, or have committed and been forgotten), so neither
    // outcome is ruled out: after the attempts the caller gets TxOutcomeUnknown, never an abort.
    for (let attempt = 0; !result && attempt < 3 && this.#e === e; attempt++) {
      if (attempt > 0) await this.#clock.sleep(this.#retryMs);
      const r = await this.#call(e, ref, 'rollback', tx.id).catch(() => undefined);
      if (r?.ok) result = r.value as unknown as BranchResult;
    }
    if (!result) {
      this.#live.delete(tx.id);
      throw new TxOutcomeUnknown(tx.id, 'the resource manager did not answer the one-phase commit');
    }
    if (result.heuristic) this.#reportHeuristic(tx.id, ref, 'committed', result.outcome);
    if (result.outcome === 'committed') return this.#finish(tx, 'committed');
    this.#finish(tx, 'aborted');
    throw new TxAbortedError(tx.id, 'the resource manager did not commit');
  }

  /**
   * Rolls back every participant and forgets the transaction. Waits for one attempt; what could
   * not be rolled back yet is kept (bounded) and retried at each recovery pass.
   */
  async #abort(tx: LiveTx, as: 'aborted' | 'rolledBack'): Promise<void> {
    const e = this.#ready();
    tx.timer?.cancel();
    tx.state = 'aborting';
    this.#finish(tx, as);
    const items = [...tx.participants.values()].map((ref): Work => ({ tx: tx.id, ref, op: 'rollback' }));
    const { failed } = await this.#resolveAll(e, items);
    if (this.#e === e) for (const w of failed) this.#pendRollback(w);
  }

  /**
   * Keeps a rollback that did not reach its participant, to retry at each recovery pass. At most
   * `maxPendingRollbacks` are kept; the oldest is dropped, which is safe: a prepared branch is found
   * by the recovery passes (presumed abort), an unprepared one times out at its resource manager.
   */
  #pendRollback(work: Work): void {
    const key = `${work.tx} ${refKey(work.ref)}`;
    this.#rollbacks.delete(key);
    this.#rollbacks.set(key, work);
    if (this.#rollbacks.size > this.#maxPendingRollbacks) this.#rollbacks.delete(this.#rollbacks.keys().next().value!);
  }

  /** Retries the pending rollbacks once; those answered are done. */
  async #retryRollbacks(e: Epochal): Promise<void> {
    const pending = [...this.#rollbacks];
    if (pending.length === 0) return;
    const { failed } = await this.#resolveAll(e, pending.map(([, w]) => w));
    if (this.#e !== e) return;
    const left = new Set(failed.map((w) => `${w.tx} ${refKey(w.ref)}`));
    for (const [key, w] of pending) if (!left.has(key) && this.#rollbacks.get(key) === w) this.#rollbacks.delete(key);
  }

  #finish(tx: LiveTx, outcome: 'committed' | 'aborted' | 'rolledBack'): void {
    tx.timer?.cancel();
    this.#live.delete(tx.id);
    this.#recent.set(tx.id, outcome);
  }

  /**
   * Phase two of a decided transaction: tell every pending participant to commit, once (`once`:
   * the caller retries later through recovery) or until all have acknowledged.
   */
  async #drive(e: Epochal, tx: TxId, first: boolean): Promise<void> {
    const decided = this.#decided.get(tx);
    if (!decided) return;
    let acked = 0;
    for (const [key, ref] of [...decided.pending]) {
      const reply = await this.#call(e, ref, 'commit', tx).catch((err: unknown) => ({ ok: false as const, error: asError(err) }));
      // Any error, TxOutcomeForgottenError included (the shipped RMs never answer a two-phase commit
      // with it: a branch they do not know answers 'committed'), is retried: the decision is
      // committed, and the participant must be told until it acknowledges.
      if (!reply.ok) continue;
      const r = reply.value as unknown as BranchResult;
      if (r.heuristic || r.outcome !== 'committed') this.#reportHeuristic(tx, ref, 'committed', r.outcome);
      decided.pending.delete(key);
      if (first && ++acked === 1 && decided.pending.size > 0) this.#fault?.at?.('midCommit');
    }
    if (decided.pending.size === 0) this.#ended(e, tx);
    else if (first) void this.#retryLater(e, tx);
  }

  async #retryLater(e: Epochal, tx: TxId): Promise<void> {
    while (this.#e === e && this.#decided.get(tx)?.pending.size) {
      await this.#clock.sleep(this.#retryMs);
      if (this.#e === e) await this.#drive(e, tx, false);
    }
  }

  /**
   * All participants of `tx` acknowledged: queue an end record (batched) and let the log be trimmed.
   * Not for a deposed epoch `e`: `#decided` is then the next epoch's (this node may have won it),
   * whose own acknowledgements end the transaction there; marking its entry from `e` would leave it
   * without an end record (`e`'s batch is never written), the log untrimmed past it for good.
   */
  #ended(e: Epochal, tx: TxId): void {
    if (this.#e !== e) return;
    const d = this.#decided.get(tx);
    if (!d || d.ending) return;
    d.ending = true;
    this.#recent.set(tx, 'committed');
    e.endBatch.push(tx);
    e.endTimer ??= this.#clock.setTimeout(() => void this.#flushEnds(e), 0);
  }

  async #flushEnds(e: Epochal): Promise<void> {
    e.endTimer = undefined;
    const txs = e.endBatch.splice(0);
    if (txs.length === 0 || this.#e !== e) return;
    let offset: number;
    try {
      offset = await e.log.append({ t: 'end', txs });
    } catch (err) {
      this.#report(err);
      // Written again later (an end record written twice is harmless): until it is, the
      // transactions stay in doubt and the log cannot be trimmed past their commit records.
      if (this.#e === e) {
        e.endBatch.push(...txs);
        e.endTimer ??= this.#clock.setTimeout(() => void this.#flushEnds(e), this.#retryMs);
      }
      return;
    }
    e.logEnd = Math.max(e.logEnd, offset + 1);
    for (const tx of txs) this.#decided.delete(tx);
    await this.#maybeTrim(e, false).catch((err: unknown) => this.#report(err));
  }

  /** Trims the log up to the oldest commit record still needed. */
  async #maybeTrim(e: Epochal, always: boolean): Promise<void> {
    let needed = e.logEnd;
    for (const d of this.#decided.values()) needed = Math.min(needed, d.offset);
    for (const end of e.forcing.values()) needed = Math.min(needed, end);
    if (needed <= e.trimmedTo || (!always && needed - e.trimmedTo < TRIM_EVERY)) return;
    this.#fault?.at?.('duringTrim');
    await e.log.trim(needed);
    e.trimmedTo = Math.max(e.trimmedTo, needed);
  }

  // ---------------------------------------------------------------- outcomes of transactions not live here

  /**
   * How a transaction that is not live here ended. Remembered outcomes and commit records answer
   * at once. Otherwise there is no commit record, and since the log is fenced none can appear:
   * the transaction is aborted unless a one-phase commit went through — so roll back every known
   * participant under this epoch (which also fences out late calls of older managers) and take
   * what they answer.
   *
   * A participant that answers {@link TxOutcomeForgottenError} no longer knows whether its branch
   * committed: if no other participant answers `committed`, the outcome is unknown
   * ({@link TxOutcomeUnknown}), never `'aborted'` — the others' `rolledBack` proves nothing (a
   * read-only vote leaves no trace, so an RM that never prepared the branch answers `rolledBack`
   * to a rollback of a committed transaction too). Nothing is remembered then.
   *
   * With no participant named there is no evidence at all — a one-phase commit writes no log
   * record, and a remembered outcome or an ended commit record may have been forgotten — so the
   * outcome is unknown ({@link TxOutcomeUnknown}, asking for the participants), never a presumed
   * abort, and nothing is remembered. Presumed abort is only sound where the manager knows it never
   * sent a commit (its own aborts, and recovery of a *prepared* branch with no commit record: a
   * one-phase commit never prepares).
   */
  async #finishedOutcome(tx: TxId, known: readonly ResourceRef[]): Promise<'committed' | 'aborted' | 'rolledBack'> {
    const e = this.#ready();
    if (epochOfTx(tx) > e.epoch) throw new TmNotActiveError(this.node);
    if (epochOfTx(tx) === e.epoch && seqOfTx(tx) > e.seq) throw new TxNotFoundError(tx, 'no such transaction was begun');
    const remembered = this.#recent.get(tx);
    if (remembered) return remembered;
    if (this.#decided.has(tx)) return 'committed';
    const refs = uniqueRefs(known);
    if (refs.length === 0) {
      // No evidence either way: the transaction may have been committed one-phase (which leaves no
      // commit record), or its outcome (or commit record) forgotten. Never presume abort from that.
      throw new TxOutcomeUnknown(tx, 'this manager does not remember the transaction; pass its participants to settle the outcome');
    }
    const { results, unresolved, forgotten } = await this.#resolveAll(
      e,
      refs.map((ref): Work => ({ tx, ref, op: 'rollback' })),
    );
    if (unresolved > 0) throw new TxOutcomeUnknown(tx, 'a participant could not be reached to settle the outcome');
    const committed = results.some((r) => r.outcome === 'committed');
    if (!committed && forgotten > 0) {
      throw new TxOutcomeUnknown(tx, 'a participant has forgotten the outcome of its branch, and no participant remembers a commit');
    }
    const outcome = committed ? 'committed' : 'aborted';
    this.#recent.set(tx, outcome);
    return outcome;
  }

  // ---------------------------------------------------------------- activation and recovery

  async #activate(epoch: Epoch): Promise<void> {
    const log2 = new TxLog(this.#storage, `${this.#prefix}/log`, { key: `${this.#prefix}/fence`, epoch });
    const e: Epochal = {
      epoch,
      log: log2,
      electedAt: this.#clock.now(),
      ready: false,
      seq: 0,
      logEnd: 0,
      trimmedTo: 0,
      endBatch: [],
      endTimer: undefined,
      recoveryTimer: undefined,
      forcing: new Map(),
    };
    this.#e = e;
    this.#live.clear();
    this.#decided.clear();
    this.#recent.clear();
    this.#rollbacks.clear();
    this.emit('tmActivated', { node: this.node, epoch });
    try {
      const info = await this.#storage.streamInfo(`${this.#prefix}/log`);
      e.trimmedTo = info.start;
      e.logEnd = info.end;
      const records = await log2.readAll();
      for (const { offset, record } of records) {
        e.logEnd = Math.max(e.logEnd, offset + 1);
        if (record.t === 'commit') {
          if (!this.#decided.has(record.tx)) this.#decided.set(record.tx, { offset, pending: new Map(record.rms.map((r) => [refKey(r), r])), ending: false });
        } else {
          for (const tx of record.txs) {
            this.#decided.delete(tx);
            this.#recent.set(tx, 'committed');
          }
        }
      }
    } catch (err) {
      this.#report(err);
      if (this.#e === e) await this.#election.stop().then(() => this.#election.start());
      return;
    }
    if (this.#e !== e) return;
    e.ready = true;
    const decided = this.#decided.size;
    this.emit('recoveryStarted', { epoch, decided });
    const redo = [...this.#decided].flatMap(([tx, d]) => [...d.pending.values()].map((ref): Work => ({ tx, ref, op: 'commit' })));
    const { unresolved: redoLeft } = await this.#resolveAll(e, redo);
    const pass = await this.#recoveryPass(e);
    if (this.#e !== e) return;
    await this.#maybeTrim(e, true).catch((err: unknown) => this.#report(err));
    this.emit('recoveryDone', {
      epoch,
      committed: decided,
      aborted: pass.aborted,
      unresolved: redoLeft + pass.unresolved,
      durationMs: this.#clock.now() - e.electedAt,
    });
    this.#scheduleRecovery(e);
  }

  #deactivate(epoch: Epoch, reason: string): void {
    const e = this.#e;
    if (!e || e.epoch !== epoch) return;
    this.#e = undefined;
    e.endTimer?.cancel();
    e.recoveryTimer?.cancel();
    for (const tx of this.#live.values()) tx.timer?.cancel();
    this.#live.clear();
    this.#decided.clear();
    this.#rollbacks.clear(); // the next manager's recovery passes and the RMs' time-outs cover them
    this.emit('tmLost', { node: this.node, epoch, reason });
  }

  #scheduleRecovery(e: Epochal): void {
    e.recoveryTimer = this.#clock.setTimeout(() => {
      if (this.#e !== e) return;
      void this.#recoveryPass(e)
        .then(async () => {
          const retry = [...this.#decided].flatMap(([tx, d]) => [...d.pending.values()].map((ref): Work => ({ tx, ref, op: 'commit' })));
          await this.#resolveAll(e, retry);
          await this.#retryRollbacks(e);
          await this.#maybeTrim(e, true);
        })
        .catch((err: unknown) => this.#report(err))
        .finally(() => {
          if (this.#e === e) this.#scheduleRecovery(e);
        });
    }, this.#recoveryIntervalMs);
  }

  /**
   * Asks every registered resource manager for its in-doubt branches and resolves them: commit
   * if the log has a commit record, leave alone if live here, roll back otherwise (presumed abort).
   */
  async #recoveryPass(e: Epochal): Promise<{ aborted: number; unresolved: number }> {
    let refs: ResourceRef[];
    try {
      refs = (await this.#storage.list(this.#resources.registryPrefix)).flatMap((r) => {
        const v = decodeJson(r.value, r.key);
        return isResourceRef(v) ? [v] : [];
      });
    } catch (err) {
      this.#report(err);
      return { aborted: 0, unresolved: 0 };
    }
    const work: Work[] = [];
    let aborted = 0;
    let unresolved = 0;
    await Promise.all(
      refs.map(async (ref) => {
        let branches: { tx: TxId; state: string }[];
        try {
          const [reply] = await this.#resources.invoke(ref, 'recover', [], e.epoch, this.#rmTimeoutMs);
          if (!reply?.ok) return;
          branches = reply.value as { tx: TxId; state: string }[];
        } catch {
          unresolved++;
          return;
        }
        for (const b of branches) {
          const tx = txId(b.tx);
          const decision = this.#decided.has(tx) || this.#recent.get(tx) === 'committed' ? 'committed' : 'aborted';
          if (b.state !== 'prepared') {
            this.#reportHeuristic(tx, ref, decision, b.state === 'heuristicCommit' ? 'committed' : 'rolledBack');
            work.push({ tx, ref, op: 'forget' });
          } else if (decision === 'committed') {
            work.push({ tx, ref, op: 'commit' });
          } else if (!this.#live.has(tx) && epochOfTx(tx) <= e.epoch) {
            work.push({ tx, ref, op: 'rollback' });
            aborted++;
          }
        }
      }),
    );
    const result = await this.#resolveAll(e, work);
    return { aborted, unresolved: unresolved + result.unresolved };
  }

  /**
   * Sends `op` for each item once, batched per resource manager. Failures are counted and returned
   * for the caller to leave to the next pass (or to keep, for rollbacks).
   *
   * A rollback answered with {@link TxOutcomeForgottenError} (an RM that does not know the branch
   * and may have forgotten its outcome) is counted in `forgotten`, with no result and not as
   * failed: it is an answer, and asking again gives the same one. What it means is the caller's
   * to decide. Every caller that rolls back has decided the abort itself — `#abort` (a live
   * transaction: this manager never sent it a commit), `#retryRollbacks` (the same, later) and
   * the recovery pass (a prepared branch without a commit record: presumed abort, no commit was
   * ever sent) — and takes it as rolled back: the RM holds nothing of the branch to roll back, and
   * keeping it as failed would retry it at every pass for ever. Only `#finishedOutcome`, which
   * rolls back to *learn* the outcome, must not: there it makes the outcome unknown.
   */
  async #resolveAll(
    e: Epochal,
    items: readonly Work[],
  ): Promise<{ results: BranchResult[]; unresolved: number; failed: Work[]; forgotten: number }> {
    const results: BranchResult[] = [];
    if (this.#e !== e) return { results, unresolved: items.length, failed: [...items], forgotten: 0 };
    const groups = new Map<string, { ref: ResourceRef; op: Work['op']; txs: TxId[] }>();
    for (const item of items) {
      const key = `${item.op} ${refKey(item.ref)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { ref: item.ref, op: item.op, txs: [] }));
      g.txs.push(item.tx);
    }
    const failed: Work[] = [];
    let forgotten = 0;
    let first = true;
    await Promise.all(
      [...groups.values()].map(async (g) => {
        for (let i = 0; i < g.txs.length; i += RECOVERY_CHUNK) {
          const chunk = g.txs.slice(i, i + RECOVERY_CHUNK);
          let replies: RmReply[];
          try {
            replies = await this.#resources.invoke(g.ref, g.op, chunk, e.epoch, this.#rmTimeoutMs);
          } catch {
            for (const tx of chunk) failed.push({ tx, ref: g.ref, op: g.op });
            continue;
          }
          chunk.forEach((tx, j) => {
            const reply = replies[j];
            if (reply && !reply.ok && g.op === 'rollback' && isForgotten(reply.error)) {
              forgotten++;
              return;
            }
            if (!reply?.ok) {
              failed.push({ tx, ref: g.ref, op: g.op });
              return;
            }
            if (g.op === 'forget') return;
            const r = reply.value as unknown as BranchResult;
            results.push(r);
            if (g.op === 'commit') {
              if (r.heuristic || r.outcome !== 'committed') this.#reportHeuristic(tx, g.ref, 'committed', r.outcome);
              const d = this.#decided.get(tx);
              d?.pending.delete(refKey(g.ref));
              if (d && d.pending.size === 0) this.#ended(e, tx);
            } else if (r.heuristic) {
              this.#reportHeuristic(tx, g.ref, 'aborted', r.outcome);
            }
          });
          if (first && g.op === 'commit' && items.length > 1) {
            first = false;
            this.#fault?.at?.('duringRecovery');
          }
        }
      }),
    );
    return { results, unresolved: failed.length, failed, forgotten };
  }

  // ---------------------------------------------------------------- helpers

  async #call(e: Epochal, ref: ResourceRef, op: RmOp, tx: TxId): Promise<RmReply> {
    const [reply] = await this.#resources.invoke(ref, op, [tx], e.epoch, this.#rmTimeoutMs);
    if (!reply) throw new InvalidArgumentError('reply', 'empty reply from resource manager');
    return reply;
  }

  #reportHeuristic(tx: TxId, rm: ResourceRef, decision: 'committed' | 'aborted', outcome: 'committed' | 'rolledBack'): void {
    const report: HeuristicReport = { tx, rm, decision, outcome, matches: (decision === 'committed') === (outcome === 'committed') };
    this.#heuristics.push(report);
    log('heuristic outcome %o', report);
    this.emit('heuristicOutcome', report);
  }

  #ready(): Epochal {
    const e = this.#e;
    if (!e?.ready) throw new TmNotActiveError(this.node);
    return e;
  }

  #report(err: unknown): void {
    log('%s', err);
    this.emit('error', asError(err));
  }
}

function asError(err: unknown): NonstopError {
  return err instanceof NonstopError ? err : new TxOutcomeUnknown('-', String(err), { cause: err });
}

/**
 * `true` for a resource manager's {@link TxOutcomeForgottenError}: the instance a local RM threw,
 * the one `ResourceHost` rebuilt from a remote reply, or any error with its code.
 */
function isForgotten(error: unknown): boolean {
  return error instanceof TxOutcomeForgottenError || (error as { code?: unknown } | null)?.code === 'ERR_TX_OUTCOME_FORGOTTEN';
}

function refOf(value: unknown, option: string): ResourceRef {
  if (!isResourceRef(value)) throw new InvalidArgumentError(option, 'must be { node, rm } naming a resource manager');
  return { node: value.node, rm: value.rm };
}

function refsOf(value: unknown): ResourceRef[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new InvalidArgumentError('rms', 'must be an array of { node, rm }');
  return value.map((v, i) => refOf(v, `rms[${i}]`));
}

function uniqueRefs(refs: readonly ResourceRef[]): ResourceRef[] {
  return [...new Map(refs.map((r) => [refKey(r), r])).values()];
}
