/**
 * nonstop: high-availability building blocks for Node.js clusters.
 *
 * This entry point holds the components — the failover transaction manager (`TxManager`,
 * `TxManagerProxy`, resource managers) and the ring monitor (`RingMonitor` with its liveness writers:
 * every node watches the next one, confirms a failure in two stages and runs a failure action) on
 * the cluster configuration it keeps in shared storage (`readClusterConfig`, `ClusterView`,
 * `clusterAddressResolver`) — and what every component and adapter shares: the error
 * hierarchy, node identifiers and epochs, the injectable clock, the two contracts (`Storage`,
 * `Transport`) and the fence helpers. Adapters live in their own entry points (`nonstop/storage/file`,
 * `nonstop/storage/memory`, `nonstop/transport/tcp`, `nonstop/transport/memory`), test support in
 * `nonstop/testing`.
 *
 * @module nonstop
 */
export {
  AbortedError,
  ClosedError,
  ConflictError,
  FencedError,
  InvalidArgumentError,
  InvalidKeyError,
  isRetryable,
  NoHandlerError,
  NonstopError,
  type NonstopErrorOptions,
  ProtocolError,
  RemoteError,
  StorageCorruptError,
  StorageUnavailableError,
  TimeoutError,
  UnreachableError,
} from './core/errors.js';
export { epoch, incarnation, nodeId, type Epoch, type Incarnation, type NodeId } from './core/ids.js';
export { systemClock, type Clock, type Timer } from './core/clock.js';
export { seededRandom, type Random } from './core/random.js';
export type { JsonObject, JsonValue } from './core/json.js';
export { EventEmitter } from './core/events.js';
export { decodeJson, encodeJson, fromUtf8, utf8 } from './core/codec.js';
export type {
  AppendResult,
  CallOptions,
  Expectation,
  Fence,
  FencedOptions,
  ListOptions,
  ReadStreamOptions,
  Storage,
  StorageCapabilities,
  StorageEvents,
  StoredRecord,
  StreamBatch,
  StreamInfo,
  StreamRecord,
  TransactOp,
  TransactOpResult,
  TransactResult,
  Version,
  WatchEvent,
  WriteOptions,
} from './contracts/storage.js';
export type {
  AddressResolver,
  HandlerContext,
  IncomingMessage,
  MessageHandler,
  NodeAddress,
  RequestOptions,
  SendOptions,
  Transport,
  TransportCapabilities,
  TransportEvents,
} from './contracts/transport.js';
export { fenceValue, raiseFence, readFence, type RaiseFenceOptions, type RaisedFence } from './storage/fence.js';
export { StorageBase } from './storage/storage-base.js';
export * from './tx/index.js';
export * from './ring/index.js';
export * from './cluster/index.js';
