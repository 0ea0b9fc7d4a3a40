/**
 * The events of a {@link RingMonitor} and what they carry.
 *
 * @module
 */
import type { NonstopError } from '../core/errors.js';
import type { Incarnation, NodeId } from '../core/ids.js';
import type { FailureActionResult } from './failure-action.js';
import type { Stage1Evidence } from './heartbeat.js';
import type { Stage2Evidence } from './liveness-check.js';

/** A declared failure (`nodeFailed`). */
export interface NodeFailure {
  /** The failed node. */
  readonly node: NodeId;
  /** Its dead incarnation. */
  readonly incarnation: Incarnation;
  /** Its host name, from the configuration. */
  readonly host: string;
  /** Its port, from the configuration. */
  readonly port: number;
  /** The node that detected and declared the failure (this node). */
  readonly detector: NodeId;
  /** The configuration generation of the declaration. */
  readonly generation: number;
  /** Stage-1 evidence; `undefined` when a restarting node replaced its own dead predecessor incarnation. */
  readonly stage1: Stage1Evidence | undefined;
  /** Stage-2 evidence (always present: no failure is declared without it). */
  readonly stage2: Stage2Evidence;
  /** Timings on the detector's clock, in ms. */
  readonly timings: {
    /** When stage 1 started. */
    readonly suspectedAt: number;
    /** When the declaration was committed. */
    readonly declaredAt: number;
    /** From the first heartbeat request of the round to the declaration. */
    readonly totalMs: number;
  };
}

/** A monitored node that stage 2 showed alive although stage 1 failed (`unreachable`, `degraded`). */
export interface LivenessReport {
  /** The monitored node. */
  readonly node: NodeId;
  /** Its incarnation. */
  readonly incarnation: Incarnation;
  /** Why stage 1 failed. */
  readonly stage1: Stage1Evidence;
  /** What stage 2 saw. */
  readonly stage2: Stage2Evidence;
}

/** This node learned that its incarnation is dead (`fenced`). */
export interface FencedReport {
  /** This node. */
  readonly node: NodeId;
  /** Its dead incarnation. */
  readonly incarnation: Incarnation;
  /** The state the configuration holds for it (`failed`, `recovered`, or a newer incarnation's state). */
  readonly state: string;
  /** The node that declared it failed, if recorded. */
  readonly failedBy: NodeId | undefined;
}

/** The ring relations of this node changed (`ringChanged`). */
export interface RingChange {
  /** The node this node monitors now (`undefined`: none, it is alone). */
  readonly monitors: NodeId | undefined;
  /** The node that monitors this node now. */
  readonly monitoredBy: NodeId | undefined;
  /** The configuration generation the relations were derived from. */
  readonly generation: number;
}

/** A check round or stage-2 window was thrown away because this node's own timer ran late (`roundDiscarded`). */
export interface DiscardedRound {
  /** `round`: a heartbeat round started late; `stage2`: a wait between liveness reads ended late. */
  readonly phase: 'round' | 'stage2';
  /** How late the timer fired, in ms. */
  readonly latenessMs: number;
}

/**
 * The events of a {@link RingMonitor}. Every name is stable.
 */
export interface RingMonitorEvents {
  /** A monitored node's failure was declared by this node (exactly once per incarnation, cluster-wide). */
  nodeFailed: [failure: NodeFailure];
  /** The failure action for a failure this node declared has ended. */
  failureActionDone: [result: FailureActionResult];
  /** The monitored node did not answer heartbeats but its liveness record shows it alive: a link problem. */
  unreachable: [report: LivenessReport];
  /** The monitored node did not answer, its liveness writer runs but its main event loop is stalled. */
  degraded: [report: LivenessReport];
  /** This node's incarnation was declared dead; it stopped acting as a member (it may start anew). */
  fenced: [report: FencedReport];
  /** Storage could not be read or written; nothing is declared without stage-2 evidence, and the monitor keeps trying. */
  storageUnavailable: [error: NonstopError];
  /** This node's ring relations changed (joins, leaves, failures). */
  ringChanged: [change: RingChange];
  /** This node's own timer ran late (its event loop stalled): the round was discarded instead of accusing anyone. */
  roundDiscarded: [round: DiscardedRound];
}
