/**
 * Ring monitoring with two-stage failure detection and failure actions (SPEC U1–U5, B7).
 *
 * @module
 */
export type { DiscardedRound, FencedReport, LivenessReport, NodeFailure, RingChange, RingMonitorEvents } from './events.js';
export type { CallbackOutcome, FailureActionOptions, FailureActionResult, ScriptOutcome } from './failure-action.js';
export { HEARTBEAT_TYPE, type Stage1Evidence } from './heartbeat.js';
export type { LivenessVerdict, Stage2Evidence } from './liveness-check.js';
export { decodeLiveness, encodeLiveness, LIVENESS_PREFIX, livenessKey, type LivenessRecord } from './liveness-record.js';
export {
  ClockLivenessWriter,
  type ClockLivenessWriterOptions,
  type LivenessTarget,
  type LivenessWriter,
  type LivenessWriterStartOptions,
} from './liveness-writer.js';
export type { RingMonitorOptions } from './options.js';
export { RingMonitor, type RingMonitorState } from './ring-monitor.js';
export { WorkerLivenessWriter, type WorkerLivenessWriterOptions } from './worker-liveness-writer.js';
