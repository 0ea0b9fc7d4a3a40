/**
 * Ring monitoring with two-stage failure detection and failure actions (SPEC U1–U5, B7).
 *
 * The public part: the monitor, its options, events and their payloads, and the liveness writers.
 * Wire details — the heartbeat message type, the liveness record's key and encoding — stay in their
 * own modules (`heartbeat.ts`, `liveness-record.ts`) for the package's internal use.
 *
 * @module
 */
export type { DiscardedRound, FencedReport, LivenessReport, NodeFailure, RingChange, RingMonitorEvents } from './events.js';
export type { CallbackOutcome, FailureActionOptions, FailureActionResult, ScriptOutcome } from './failure-action.js';
export type { Stage1Evidence } from './heartbeat.js';
export type { LivenessVerdict, Stage2Evidence } from './liveness-check.js';
export type { LivenessRecord } from './liveness-record.js';
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
