/**
 * Distributed transactions (SPEC T1–T7): the resource-manager interface, the failover
 * transaction manager and the proxy every node uses.
 *
 * @module
 */
export {
  StaleEpochError,
  TmNotActiveError,
  TmUnavailableError,
  TxAbortedError,
  TxConflictError,
  TxNotFoundError,
  TxOutcomeForgottenError,
  TxOutcomeUnknown,
  TxStateError,
} from './errors.js';
export { isTxId, txId, type TxId } from './tx-id.js';
export {
  type BranchOutcome,
  type BranchResult,
  type CommitOptions,
  type InDoubtBranch,
  type ResourceManager,
  type ResourceRef,
  type Vote,
} from './resource-manager.js';
export { KvResourceManager, type KvResourceManagerOptions, type RmCall, type RmCompactionOptions } from './kv-resource-manager.js';
export { MemoryRmJournal, type RmJournal, type RmJournalRecord } from './rm-journal.js';
export { MemoryResourceManager, type MemoryResourceManagerOptions } from './memory-rm.js';
export { FileResourceManager, FileRmJournal, type FileResourceManagerOptions, type FileRmJournalOptions } from './file-rm.js';
export { ResourceHost, type ResourceHostOptions } from './resource-host.js';
export {
  TxManager,
  type BeginOptions,
  type HeuristicReport,
  type InDoubtTxInfo,
  type LiveTxInfo,
  type LiveTxState,
  type NodeFailureSource,
  type RecoveryReport,
  type TxCrashPoint,
  type TxManagerEvents,
  type TxManagerOptions,
  type TxStatus,
} from './tx-manager.js';
export { TxManagerProxy, type TxManagerProxyOptions } from './tx-manager-proxy.js';
