/**
 * The resource-manager interface, shaped like XA: a transaction manager asks each resource
 * manager (RM) that took part in a transaction to `prepare`, then to `commit` or `rollback`;
 * after a failure it asks `recover` for the branches still in doubt.
 *
 * Every call carries the caller's transaction-manager epoch. An RM persists the highest epoch it
 * has seen before acting on a call and rejects calls from older epochs with `StaleEpochError`
 * (SPEC B1), so a deposed manager that wakes up late cannot act.
 *
 * Contract every RM keeps (the shipped ones and any you write):
 *
 * - `prepare` answers `'prepared'` only after the branch's changes are durable and can still be
 *   committed or rolled back; `'readOnly'` if the branch changed nothing (it is then finished);
 *   `'refused'` (or throws) if it cannot commit — the transaction will be rolled back. A branch
 *   the RM does not know (its work was lost in a restart, or never done here) is refused, and so
 *   is a one-phase `commit` of it (answer `'rolledBack'`) — unless the RM may have forgotten its
 *   outcome (see below).
 * - Before `prepare` the RM may roll a branch back on its own (an idle branch whose application
 *   or manager disappeared: `KvResourceManagerOptions.branchTimeoutMs`); once prepared, never —
 *   only the manager decides a prepared branch (or an administrator, heuristically).
 * - `commit` and `rollback` are idempotent and answer the branch's final state. A branch that is
 *   already finished answers what it became, so `rollback` of a committed branch answers
 *   `'committed'` and changes nothing. `rollback` of an unknown branch records it as rolled back,
 *   so late work or a late `prepare` for it is refused.
 * - The RM remembers the outcome of finished branches (at least until the transaction is long
 *   over; the shipped RMs keep the last `outcomeRetention`): a new manager learns the outcome of a
 *   one-phase commit whose answer was lost by calling `rollback`.
 * - An RM that forgets outcomes never answers for a forgotten branch as if it were unknown. It
 *   keeps a durable *forgotten horizon*, the greatest transaction id (ordered by epoch, then
 *   sequence number) whose outcome it forgot; for a branch it does not know at or below it,
 *   `rollback` and one-phase `commit` throw `TxOutcomeForgottenError` and record nothing. The
 *   manager then answers an outcome question with `TxOutcomeUnknown` (unless another participant
 *   remembers a commit), and takes it as rolled back when it aborts the transaction itself.
 *   `prepare` and the RM's own work calls ignore the horizon.
 * - An RM that resolves a prepared branch on its own (a heuristic decision) marks the result
 *   `heuristic: true` until the manager calls `forget`.
 *
 * @module
 */
import type { Epoch } from '../core/ids.js';
import type { TxId } from './tx-id.js';

/** A resource manager's answer to `prepare`. */
export type Vote = 'prepared' | 'readOnly' | 'refused';

/** The final state of a branch. */
export type BranchOutcome = 'committed' | 'rolledBack';

/** What `commit` and `rollback` answer. */
export interface BranchResult {
  /** The branch's final state. */
  readonly outcome: BranchOutcome;
  /** `true` if the RM decided this outcome alone, without the transaction manager. */
  readonly heuristic: boolean;
}

/** A branch `recover` reports. */
export interface InDoubtBranch {
  /** The transaction. */
  readonly tx: TxId;
  /** `'prepared'` while it waits for the manager; the outcome if the RM decided alone. */
  readonly state: 'prepared' | 'heuristicCommit' | 'heuristicRollback';
}

/** Options of {@link ResourceManager.commit}. */
export interface CommitOptions {
  /** One-phase commit: the branch was not prepared; prepare and commit in one step. */
  readonly onePhase?: boolean;
}

/** A participant in transactions. All calls may be repeated (DESIGN rule 5). */
export interface ResourceManager {
  /** The RM's name, unique on its node (letters, digits, `.`, `_`, `-`). */
  readonly name: string;
  /** Prepares the branch of `tx`. */
  prepare(tx: TxId, epoch: Epoch): Promise<Vote>;
  /** Commits the branch of `tx` (after `prepare`, or at once with `onePhase`). */
  commit(tx: TxId, epoch: Epoch, options?: CommitOptions): Promise<BranchResult>;
  /** Rolls the branch of `tx` back. */
  rollback(tx: TxId, epoch: Epoch): Promise<BranchResult>;
  /** The branches that are prepared and wait for an outcome, and heuristic ones not yet forgotten. */
  recover(epoch: Epoch): Promise<InDoubtBranch[]>;
  /** Forgets a heuristically finished branch after the manager has reported it. */
  forget(tx: TxId, epoch: Epoch): Promise<void>;
}

/** Where a resource manager lives: its node and its name there. */
export interface ResourceRef {
  /** The node that hosts it. */
  readonly node: string;
  /** Its name on that node. */
  readonly rm: string;
}

/** The pattern of resource-manager names. */
export const RM_NAME_PATTERN: RegExp = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A stable string key of a {@link ResourceRef}. */
export function refKey(ref: ResourceRef): string {
  return `${ref.node}/${ref.rm}`;
}
