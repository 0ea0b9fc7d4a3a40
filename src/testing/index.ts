/**
 * Test support for nonstop and for host projects (`nonstop/testing`): the simulated clock and
 * network, and the conformance suites that every Storage and Transport adapter must pass.
 *
 * @module
 */
export { SimulatedClock } from './simulated-clock.js';
export type { ConformanceRunner } from './conformance/runner.js';
export {
  storageConformance,
  type StorageConformanceOptions,
  type StorageProcessFactory,
  type StorageTestHooks,
} from './conformance/storage.js';
export { MemoryNetwork } from '../transport/memory/memory-network.js';
export {
  transportConformance,
  type TransportConformanceOptions,
  type TransportFactory,
  type TransportHarness,
} from './conformance/transport.js';
export {
  checkTxHistory,
  type AcknowledgedTx,
  type CheckedBranchOutcome,
  type CheckedResource,
  type TxHistory,
  type TxViolation,
} from './tx-checker.js';
