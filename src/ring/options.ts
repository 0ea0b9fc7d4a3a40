/**
 * Options of the {@link RingMonitor} and their validation.
 *
 * @module
 */
import { hostname } from 'node:os';
import { systemClock, type Clock } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import { describe } from '../core/ids.js';
import { defaultRandom, type Random } from '../core/random.js';
import type { Storage } from '../contracts/storage.js';
import type { NodeAddress, Transport } from '../contracts/transport.js';
import { validateFailureAction, type FailureActionOptions } from './failure-action.js';
import type { LivenessWriter } from './liveness-writer.js';

/** Options of {@link RingMonitor}. Timings are in milliseconds; H is `heartbeatIntervalMs`. */
export interface RingMonitorOptions {
  /** This node's transport; its `self` is the node's logical name. */
  readonly transport: Transport;
  /** The shared storage holding the cluster configuration and the liveness records. */
  readonly storage: Storage;
  /**
   * Keeps this node's liveness record fresh. In real processes use `WorkerLivenessWriter` (a
   * worker thread the main event loop cannot block); `ClockLivenessWriter` is for simulations.
   */
  readonly livenessWriter: LivenessWriter;
  /** The address recorded in the configuration for others to reach this node (default: this host's name, port 0). */
  readonly address?: NodeAddress;
  /** Application roles recorded in the configuration (default none). */
  readonly roles?: readonly string[];
  /** H: one heartbeat request per H to the monitored node (default 1,000). */
  readonly heartbeatIntervalMs?: number;
  /** Time limit of one heartbeat request (default H/4; at most H). */
  readonly replyTimeoutMs?: number;
  /** Further heartbeat requests in a round after a failed one (default 1). */
  readonly retries?: number;
  /** How often the liveness record is rewritten (default H/4). */
  readonly livenessIntervalMs?: number;
  /** How long a liveness record must stay unchanged for stage 2 to find a node dead (default 3 × livenessIntervalMs; at least 2 ×). */
  readonly livenessTimeoutMs?: number;
  /** A timer of this node firing later than this discards its round (default H/2). */
  readonly maxTimerLatenessMs?: number;
  /** What runs when this node declares a failure. */
  readonly failureAction?: FailureActionOptions;
  /** The clock of every timer (default: the system clock). */
  readonly clock?: Clock;
  /** Randomness for retry jitter (default `Math.random`). */
  readonly random?: Random;
}

/** {@link RingMonitorOptions} validated, with defaults filled in. */
export interface ResolvedRingOptions {
  /** See {@link RingMonitorOptions.transport}. */
  readonly transport: Transport;
  /** See {@link RingMonitorOptions.storage}. */
  readonly storage: Storage;
  /** See {@link RingMonitorOptions.livenessWriter}. */
  readonly livenessWriter: LivenessWriter;
  /** See {@link RingMonitorOptions.address}. */
  readonly address: NodeAddress;
  /** See {@link RingMonitorOptions.roles}. */
  readonly roles: readonly string[];
  /** See {@link RingMonitorOptions.heartbeatIntervalMs}. */
  readonly heartbeatIntervalMs: number;
  /** See {@link RingMonitorOptions.replyTimeoutMs}. */
  readonly replyTimeoutMs: number;
  /** See {@link RingMonitorOptions.retries}. */
  readonly retries: number;
  /** See {@link RingMonitorOptions.livenessIntervalMs}. */
  readonly livenessIntervalMs: number;
  /** See {@link RingMonitorOptions.livenessTimeoutMs}. */
  readonly livenessTimeoutMs: number;
  /** See {@link RingMonitorOptions.maxTimerLatenessMs}. */
  readonly maxTimerLatenessMs: number;
  /** See {@link RingMonitorOptions.failureAction}. */
  readonly failureAction: FailureActionOptions | undefined;
  /** See {@link RingMonitorOptions.clock}. */
  readonly clock: Clock;
  /** See {@link RingMonitorOptions.random}. */
  readonly random: Random;
}

/**
 * Validates the options of {@link RingMonitor}.
 *
 * @throws {@link InvalidArgumentError} naming the first invalid option
 */
export function resolveRingOptions(options: RingMonitorOptions): ResolvedRingOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', `must be an object (got ${describe(options)})`);
  const { transport, storage, livenessWriter } = options;
  if (typeof transport !== 'object' || transport === null || typeof transport.request !== 'function' || typeof transport.handle !== 'function') {
    throw new InvalidArgumentError('transport', `is required and must be a Transport (got ${describe(transport)})`);
  }
  if (typeof storage !== 'object' || storage === null || typeof storage.get !== 'function' || typeof storage.transact !== 'function') {
    throw new InvalidArgumentError('storage', `is required and must be a Storage (got ${describe(storage)})`);
  }
  if (typeof livenessWriter !== 'object' || livenessWriter === null || typeof livenessWriter.start !== 'function') {
    throw new InvalidArgumentError('livenessWriter', `is required and must be a LivenessWriter (got ${describe(livenessWriter)})`);
  }
  const address = options.address ?? { host: hostname(), port: 0 };
  if (typeof address !== 'object' || address === null || typeof address.host !== 'string' || address.host === '' || address.host.length > 253) {
    throw new InvalidArgumentError('address.host', `must be a non-empty host name (got ${describe(address?.host)})`);
  }
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 65_535) {
    throw new InvalidArgumentError('address.port', `must be an integer in [0, 65535] (got ${describe(address.port)})`);
  }
  const roles = options.roles ?? [];
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string' && r !== '')) {
    throw new InvalidArgumentError('roles', 'must be an array of non-empty strings');
  }
  const h = positive(options.heartbeatIntervalMs, 'heartbeatIntervalMs', 1000);
  const replyTimeoutMs = positive(options.replyTimeoutMs, 'replyTimeoutMs', h / 4);
  if (replyTimeoutMs > h) throw new InvalidArgumentError('replyTimeoutMs', `must not exceed heartbeatIntervalMs (${h})`);
  const retries = options.retries ?? 1;
  if (!Number.isInteger(retries) || retries < 0 || retries > 10) throw new InvalidArgumentError('retries', `must be an integer in [0, 10] (got ${describe(retries)})`);
  const livenessIntervalMs = positive(options.livenessIntervalMs, 'livenessIntervalMs', h / 4);
  const livenessTimeoutMs = positive(options.livenessTimeoutMs, 'livenessTimeoutMs', 3 * livenessIntervalMs);
  if (livenessTimeoutMs < 2 * livenessIntervalMs) {
    throw new InvalidArgumentError('livenessTimeoutMs', `must be at least 2 × livenessIntervalMs (${2 * livenessIntervalMs})`);
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock !== 'object' || clock === null || typeof clock.setTimeout !== 'function') throw new InvalidArgumentError('clock', 'must be a Clock');
  const random = options.random ?? defaultRandom;
  if (typeof random !== 'object' || random === null || typeof random.next !== 'function') throw new InvalidArgumentError('random', 'must be a Random');
  return {
    transport,
    storage,
    livenessWriter,
    address: { host: address.host, port: address.port },
    roles: [...new Set(roles)].sort(),
    heartbeatIntervalMs: h,
    replyTimeoutMs,
    retries,
    livenessIntervalMs,
    livenessTimeoutMs,
    maxTimerLatenessMs: positive(options.maxTimerLatenessMs, 'maxTimerLatenessMs', h / 2),
    failureAction: validateFailureAction(options.failureAction),
    clock,
    random,
  };
}

function positive(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(option, `must be a positive number of milliseconds (got ${describe(value)})`);
  }
  return value;
}
