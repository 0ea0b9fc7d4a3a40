/**
 * Identifiers shared by every component: logical node names, incarnations and epochs.
 *
 * @module
 */
import { InvalidArgumentError } from './errors.js';

declare const nodeIdBrand: unique symbol;
declare const epochBrand: unique symbol;
declare const incarnationBrand: unique symbol;

/**
 * The logical name of a node (SPEC R8, U9): stable across restarts and address changes, never an
 * IP address. 1–63 characters of letters, digits, `.`, `_` and `-`, starting with a letter or digit.
 */
export type NodeId = string & {
  /** Type-level brand: a `NodeId` is made by {@link nodeId}, not by a cast. */
  readonly [nodeIdBrand]: true;
};

/**
 * A fencing epoch (SPEC B1): a positive integer taken from storage by compare-and-set, strictly
 * increasing for each authority. Writes and calls made under an older epoch are rejected.
 */
export type Epoch = number & {
  /** Type-level brand: an `Epoch` is made by {@link epoch}. */
  readonly [epochBrand]: true;
};

/**
 * The incarnation of a node: a positive integer that grows with every start of the node, so a
 * restarted node is never mistaken for the one that failed.
 */
export type Incarnation = number & {
  /** Type-level brand: an `Incarnation` is made by {@link incarnation}. */
  readonly [incarnationBrand]: true;
};

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Validates and brands a logical node name.
 *
 * @param value - the candidate name
 * @param option - the option name reported in the error
 * @throws {@link InvalidArgumentError} if `value` is not a valid node name
 */
export function nodeId(value: unknown, option = 'nodeId'): NodeId {
  if (typeof value !== 'string' || !NODE_ID.test(value)) {
    throw new InvalidArgumentError(
      option,
      `must be 1-63 characters of letters, digits, '.', '_' or '-' starting with a letter or digit (got ${describe(value)})`,
    );
  }
  return value as NodeId;
}

/** `true` if `value` is a valid {@link NodeId}. */
export function isNodeId(value: unknown): value is NodeId {
  return typeof value === 'string' && NODE_ID.test(value);
}

/**
 * Validates and brands an epoch.
 *
 * @throws {@link InvalidArgumentError} unless `value` is a positive safe integer
 */
export function epoch(value: unknown, option = 'epoch'): Epoch {
  return positiveInteger(value, option) as Epoch;
}

/**
 * Validates and brands an incarnation.
 *
 * @throws {@link InvalidArgumentError} unless `value` is a positive safe integer
 */
export function incarnation(value: unknown, option = 'incarnation'): Incarnation {
  return positiveInteger(value, option) as Incarnation;
}

function positiveInteger(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(option, `must be a positive safe integer (got ${describe(value)})`);
  }
  return value;
}

/** A short, safe description of an arbitrary value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
