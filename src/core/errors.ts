/**
 * The error hierarchy of nonstop.
 *
 * Every error nonstop throws, rejects with or emits is a {@link NonstopError}: it has a stable
 * literal `code` to branch on, a `retryable` flag that says whether the same call may succeed
 * if simply tried again, and the underlying `cause` where there is one.
 *
 * @module
 */

/** Options accepted by every {@link NonstopError} constructor. */
export interface NonstopErrorOptions {
  /** The underlying error, if any. */
  readonly cause?: unknown;
}

/**
 * Base class of every error nonstop raises. Branch on {@link NonstopError.code}, never on the
 * message text.
 */
export abstract class NonstopError extends Error {
  /** A stable, machine-readable identifier of the failure (for example `ERR_FENCED`). */
  abstract readonly code: string;
  /** `true` when the same operation may succeed if retried unchanged (after a pause). */
  abstract readonly retryable: boolean;

  constructor(message: string, options?: NonstopErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** An argument or option is invalid. The message names the offending option. */
export class InvalidArgumentError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_INVALID_ARGUMENT' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** The name of the option or argument that was rejected. */
  readonly option: string;

  constructor(option: string, message: string, options?: NonstopErrorOptions) {
    super(`${option}: ${message}`, options);
    this.option = option;
  }
}

/** A storage key or stream name is not acceptable (empty, too long, `..`, control characters …). */
export class InvalidKeyError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_INVALID_KEY' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** The rejected key (truncated to 200 characters). */
  readonly key: string;

  constructor(key: string, reason: string) {
    const shown = key.length > 200 ? `${key.slice(0, 200)}…` : key;
    super(`invalid key ${JSON.stringify(shown)}: ${reason}`);
    this.key = shown;
  }
}

/** A compare-and-set precondition did not hold: the record changed since it was read. */
export class ConflictError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_CONFLICT' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** The key whose precondition failed. */
  readonly key: string;
  /** The record's version when the write was evaluated; `undefined` when the record was absent. */
  readonly actualVersion: number | undefined;

  constructor(key: string, actualVersion: number | undefined, message?: string) {
    super(
      message ??
        `precondition failed for ${JSON.stringify(key)} (actual version: ${actualVersion ?? 'absent'})`,
    );
    this.key = key;
    this.actualVersion = actualVersion;
  }
}

/**
 * The authority a call was made under has been superseded: the fence record no longer holds the
 * caller's epoch. The caller must stop acting on that authority; retrying cannot help.
 */
export class FencedError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_FENCED' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** The fence record's key. */
  readonly fenceKey: string;
  /** The epoch the caller presented. */
  readonly expectedEpoch: number;
  /** The epoch the fence holds now, `undefined` if the fence record is absent or unreadable. */
  readonly actualEpoch: number | undefined;

  constructor(fenceKey: string, expectedEpoch: number, actualEpoch: number | undefined) {
    super(
      `fenced: ${JSON.stringify(fenceKey)} holds epoch ${actualEpoch ?? 'none'}, caller presented ${expectedEpoch}`,
    );
    this.fenceKey = fenceKey;
    this.expectedEpoch = expectedEpoch;
    this.actualEpoch = actualEpoch;
  }
}

/** An operation did not complete within its time limit. Its effect may or may not have happened. */
export class TimeoutError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_TIMEOUT' as const;
  /** @inheritDoc */
  readonly retryable = true as const;
  /** The limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number, options?: NonstopErrorOptions) {
    super(`${what} timed out after ${timeoutMs} ms`, options);
    this.timeoutMs = timeoutMs;
  }
}

/** The caller aborted the operation through its `AbortSignal`. */
export class AbortedError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_ABORTED' as const;
  /** @inheritDoc */
  readonly retryable = false as const;

  constructor(what: string, options?: NonstopErrorOptions) {
    super(`${what} was aborted`, options);
  }
}

/** The object was closed (or never started) and cannot serve the call. */
export class ClosedError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_CLOSED' as const;
  /** @inheritDoc */
  readonly retryable = false as const;

  constructor(what: string) {
    super(`${what} is closed`);
  }
}

/** The storage backend could not be reached or failed transiently (I/O error, lost connection). */
export class StorageUnavailableError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_STORAGE_UNAVAILABLE' as const;
  /** @inheritDoc */
  readonly retryable = true as const;

  constructor(message: string, options?: NonstopErrorOptions) {
    super(message, options);
  }
}

/** Data read from storage failed validation (checksum, framing, schema). Never retried silently. */
export class StorageCorruptError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_STORAGE_CORRUPT' as const;
  /** @inheritDoc */
  readonly retryable = false as const;

  constructor(message: string, options?: NonstopErrorOptions) {
    super(message, options);
  }
}

/** A frame or message violated the wire protocol (malformed, oversized, unauthenticated, replayed). */
export class ProtocolError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_PROTOCOL' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** A short stable reason, e.g. `oversized`, `bad-mac`, `replay`, `malformed`. */
  readonly reason: string;

  constructor(reason: string, message: string, options?: NonstopErrorOptions) {
    super(`${reason}: ${message}`, options);
    this.reason = reason;
  }
}

/** The destination node could not be reached (unknown node, connection refused, partitioned). */
export class UnreachableError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_UNREACHABLE' as const;
  /** @inheritDoc */
  readonly retryable = true as const;
  /** The node that could not be reached. */
  readonly node: string;

  constructor(node: string, message: string, options?: NonstopErrorOptions) {
    super(`${node}: ${message}`, options);
    this.node = node;
  }
}

/** No handler is registered at the destination for the request's message type. */
export class NoHandlerError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_NO_HANDLER' as const;
  /** @inheritDoc */
  readonly retryable = false as const;
  /** The message type that had no handler. */
  readonly messageType: string;

  constructor(messageType: string) {
    super(`no handler for message type ${JSON.stringify(messageType)}`);
    this.messageType = messageType;
  }
}

/**
 * The remote handler of a request failed. `remoteCode` is the `code` of the error it threw
 * (`ERR_REMOTE` when it threw something that was not a {@link NonstopError}).
 */
export class RemoteError extends NonstopError {
  /** @inheritDoc */
  readonly code = 'ERR_REMOTE' as const;
  /** @inheritDoc */
  readonly retryable: boolean;
  /** The `code` of the error raised by the remote handler. */
  readonly remoteCode: string;

  constructor(remoteCode: string, message: string, retryable: boolean) {
    super(message);
    this.remoteCode = remoteCode;
    this.retryable = retryable;
  }
}

/** `true` if `err` is a {@link NonstopError} whose `retryable` flag is set. */
export function isRetryable(err: unknown): boolean {
  return err instanceof NonstopError && err.retryable;
}
