/**
 * Errors specific to transactions. Each has a stable `code`; branch on it, never on the message.
 * Errors thrown by a transaction manager reach a proxy as `RemoteError` with the same
 * `remoteCode`; the proxy turns them back into these classes ({@link txErrorFromCode}).
 *
 * @module
 */
import { NonstopError, type NonstopErrorOptions } from '../core/errors.js';

/**
 * The outcome of a commit cannot be known yet: the transaction manager that ran it failed (or
 * could not be reached) and no manager could yet say from the log or from the resource managers
 * whether it committed. Ask again later with `TxManagerProxy.outcome`.
 */
export class TxOutcomeUnknown extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_TX_OUTCOME_UNKNOWN' as const;
  /** @inheritDoc */
  readonly retryable = true as const;
  /** The transaction. */
  readonly tx: string;

  constructor(tx: string, message: string, options?: NonstopErrorOptions) {
    super(`${tx}: ${message}`, options);
    this.tx = tx;
  }
}

/** The transaction was rolled back (a resource manager refused, a timeout, or a failover before the decision). */
export class TxAbortedError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_TX_ABORTED' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** The transaction. */
  readonly tx: string;

  constructor(tx: string, message: string, options?: NonstopErrorOptions) {
    super(`${tx}: ${message}`, options);
    this.tx = tx;
  }
}

/** No transaction with this id is known (never begun, malformed id, or long finished). */
export class TxNotFoundError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_TX_NOT_FOUND' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** The transaction id as given. */
  readonly tx: string;

  constructor(tx: string, message: string = 'unknown transaction') {
    super(`${tx}: ${message}`);
    this.tx = tx;
  }
}

/** The call is not allowed in the transaction's current state (enlist after prepare, commit after rollback …). */
export class TxStateError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_TX_STATE' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** The transaction. */
  readonly tx: string;
  /** The state that ruled the call out. */
  readonly state: string;

  constructor(tx: string, state: string, message: string) {
    super(`${tx}: ${message} (state: ${state})`);
    this.tx = tx;
    this.state = state;
  }
}

/**
 * A resource manager rejected a call made under an older transaction-manager epoch than one it
 * has already seen (SPEC B1): the caller has been superseded and must stop acting.
 */
export class StaleEpochError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_TX_STALE_EPOCH' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** The epoch presented by the caller. */
  readonly presented: number;
  /** The highest epoch the resource manager has seen. */
  readonly highest: number;

  constructor(resource: string, presented: number, highest: number) {
    super(`${resource}: epoch ${presented} is older than ${highest}`);
    this.presented = presented;
    this.highest = highest;
  }
}

/** This node's transaction manager is not the active one (or not ready yet); find the active one and retry. */
export class TmNotActiveError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_TX_NOT_ACTIVE' as const;
  /** @inheritDoc */
  readonly retryable = true as const;

  constructor(node: string) {
    super(`the transaction manager on ${node} is not active`);
  }
}

/** No active transaction manager could be reached within the proxy's time limit. */
export class TmUnavailableError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_TX_TM_UNAVAILABLE' as const;
  /** @inheritDoc */
  readonly retryable = true as const;

  constructor(message: string, options?: NonstopErrorOptions) {
    super(message, options);
  }
}

/** A resource manager's work call conflicts with another transaction's uncommitted change. */
export class TxConflictError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_TX_CONFLICT' as const;
  /** @inheritDoc */
  readonly retryable = true as const;

  constructor(message: string) {
    super(message);
  }
}

/**
 * A resource manager cannot tell how its branch of a transaction ended: the transaction is at or
 * below its *forgotten horizon* (the greatest transaction id whose outcome it has stopped
 * remembering, see `KvResourceManagerOptions.outcomeRetention`) and it no longer remembers the
 * branch. It may have committed or rolled back; the resource manager claims neither and changes
 * nothing. A transaction manager asking for the outcome answers {@link TxOutcomeUnknown} then
 * (unless another participant remembers a commit); one that is aborting the transaction itself
 * takes it as rolled back, since it never told the branch to commit.
 */
export class TxOutcomeForgottenError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_TX_OUTCOME_FORGOTTEN' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** The transaction. */
  readonly tx: string;

  constructor(tx: string, message: string, options?: NonstopErrorOptions) {
    super(`${tx}: ${message}`, options);
    this.tx = tx;
  }
}

/**
 * Rebuilds a transaction error from a remote error code, so a proxy's caller sees the same
 * classes as a local caller. Returns `undefined` for codes that are not transaction errors.
 */
export function txErrorFromCode(code: string, tx: string, message: string): NonstopError | undefined {
  switch (code) {
    case 'ERR_TX_OUTCOME_UNKNOWN':
      return new TxOutcomeUnknown(tx, message);
    case 'ERR_TX_ABORTED':
      return new TxAbortedError(tx, message);
    case 'ERR_TX_NOT_FOUND':
      return new TxNotFoundError(tx, message);
    case 'ERR_TX_STATE':
      return new TxStateError(tx, 'remote', message);
    case 'ERR_TX_CONFLICT':
      return new TxConflictError(message);
    case 'ERR_TX_OUTCOME_FORGOTTEN':
      return new TxOutcomeForgottenError(tx, message);
    default:
      return undefined;
  }
}
