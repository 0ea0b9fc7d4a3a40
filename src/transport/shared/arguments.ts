/**
 * Validation of the arguments of `Transport` calls, shared by the adapters so that every adapter
 * rejects the same input with the same {@link InvalidArgumentError}.
 *
 * @module
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { describe, nodeId, type NodeId } from '../../core/ids.js';
import { isMessageType, MESSAGE_TYPE_PATTERN } from '../../contracts/transport.js';

/**
 * Checks a message type argument.
 *
 * @throws An {@link InvalidArgumentError} naming `type` unless `type` is a valid message type
 */
export function checkMessageType(type: unknown): string {
  if (!isMessageType(type)) {
    throw new InvalidArgumentError(
      'type',
      `must match ${String(MESSAGE_TYPE_PATTERN)} and have at most 128 characters (got ${describe(type)})`,
    );
  }
  return type;
}

/**
 * Checks a destination argument.
 *
 * @throws An {@link InvalidArgumentError} naming `to` unless `to` is a valid node id
 */
export function checkDestination(to: unknown): NodeId {
  return nodeId(to, 'to');
}

/**
 * Checks a request time limit.
 *
 * @throws An {@link InvalidArgumentError} naming `timeoutMs` unless it is a positive finite number
 */
export function checkTimeoutMs(timeoutMs: unknown): number {
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidArgumentError('timeoutMs', `must be a positive finite number of milliseconds (got ${describe(timeoutMs)})`);
  }
  return timeoutMs;
}
