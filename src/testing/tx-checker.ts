/**
 * An independent checker of the transaction invariants (SPEC B6), for our fault-injection runs
 * and for host projects' tests. It looks only at what the application was told and at the final
 * state of each resource manager — never at the transaction manager's internals.
 *
 * @module
 */

/** The final state of a branch at a resource manager. */
export type CheckedBranchOutcome = 'committed' | 'rolledBack';

/** What the application was told about one transaction. */
export interface AcknowledgedTx {
  /** The transaction id. */
  readonly tx: string;
  /** `'unknown'`: the call failed with `TxOutcomeUnknown` or the process died before an answer. */
  readonly outcome: 'committed' | 'aborted' | 'unknown';
  /** The names of the resource managers that did work in it (keys of {@link TxHistory.resources}). */
  readonly participants: readonly string[];
}

/** The final state of one resource manager. */
export interface CheckedResource {
  /** The outcome of every finished branch, by transaction id. */
  readonly outcomes: ReadonlyMap<string, CheckedBranchOutcome>;
  /** Transactions whose branches are still prepared (in doubt). */
  readonly inDoubt: readonly string[];
}

/** Everything the checker looks at. */
export interface TxHistory {
  /** Every transaction the application began, with what it was told. */
  readonly acknowledged: readonly AcknowledgedTx[];
  /** The resource managers, by unique name. */
  readonly resources: { readonly [name: string]: CheckedResource };
  /** Heuristic outcomes reported by managers (`rm` is a resource name); disagreements they explain are allowed. */
  readonly heuristics?: readonly {
    /** The transaction. */
    readonly tx: string;
    /** The resource name. */
    readonly rm: string;
  }[];
  /** Every activation of a manager: no epoch may have two nodes. */
  readonly activations?: readonly {
    /** The manager's node. */
    readonly node: string;
    /** The epoch it took. */
    readonly epoch: number;
  }[];
}

/** A broken invariant. */
export interface TxViolation {
  /** Which invariant. */
  readonly kind:
    | 'disagreement'
    | 'partialCommit'
    | 'lostCommit'
    | 'abortedButCommitted'
    | 'unresolvedInDoubt'
    | 'twoManagersOneEpoch';
  /** The transaction, if the invariant is about one. */
  readonly tx?: string;
  /** What was seen. */
  readonly detail: string;
}

/**
 * Checks the invariants; returns every violation found (empty: all hold).
 *
 * - every resource manager of a transaction reaches the same outcome (unless reported heuristic);
 * - if any participant committed, every participant committed;
 * - every commit acknowledged to the application is committed at every participant;
 * - nothing reported aborted is committed anywhere;
 * - no branch is left in doubt;
 * - no epoch was held by two managers.
 */
export function checkTxHistory(history: TxHistory): TxViolation[] {
  const violations: TxViolation[] = [];
  const heuristic = new Set((history.heuristics ?? []).map((h) => `${h.tx} ${h.rm}`));
  const outcomeAt = (rm: string, tx: string): CheckedBranchOutcome | undefined => history.resources[rm]?.outcomes.get(tx);

  const allTxs = new Set<string>();
  for (const r of Object.values(history.resources)) for (const tx of r.outcomes.keys()) allTxs.add(tx);
  for (const tx of allTxs) {
    const seen = Object.entries(history.resources)
      .map(([name, r]) => [name, r.outcomes.get(tx)] as const)
      .filter(([name, o]) => o !== undefined && !heuristic.has(`${tx} ${name}`));
    if (new Set(seen.map(([, o]) => o)).size > 1) {
      violations.push({ kind: 'disagreement', tx, detail: seen.map(([n, o]) => `${n}=${o}`).join(', ') });
    }
  }

  for (const a of history.acknowledged) {
    const states = a.participants.map((rm) => [rm, outcomeAt(rm, a.tx)] as const).filter(([rm]) => !heuristic.has(`${a.tx} ${rm}`));
    const show = (): string => states.map(([n, o]) => `${n}=${o ?? 'none'}`).join(', ');
    if (states.some(([, o]) => o === 'committed') && states.some(([, o]) => o !== 'committed')) {
      violations.push({ kind: 'partialCommit', tx: a.tx, detail: show() });
    }
    if (a.outcome === 'committed' && states.some(([, o]) => o !== 'committed')) {
      violations.push({ kind: 'lostCommit', tx: a.tx, detail: `acknowledged committed; ${show()}` });
    }
    if (a.outcome === 'aborted' && states.some(([, o]) => o === 'committed')) {
      violations.push({ kind: 'abortedButCommitted', tx: a.tx, detail: `reported aborted; ${show()}` });
    }
  }

  for (const [name, r] of Object.entries(history.resources)) {
    for (const tx of r.inDoubt) violations.push({ kind: 'unresolvedInDoubt', tx, detail: `${name} still holds a prepared branch` });
  }

  const holders = new Map<number, string>();
  for (const { node, epoch } of history.activations ?? []) {
    const other = holders.get(epoch);
    if (other !== undefined && other !== node) violations.push({ kind: 'twoManagersOneEpoch', detail: `epoch ${epoch}: ${other} and ${node}` });
    holders.set(epoch, node);
  }
  return violations;
}
