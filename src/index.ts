/**
 * nonstop: high-availability building blocks for Node.js clusters.
 *
 * This entry point holds what every component and adapter shares: the error hierarchy, node
 * identifiers and epochs, the injectable clock, the two contracts (`Storage`, `Transport`) and
 * the fence helpers. Adapters live in their own entry points (`nonstop/storage/file`,
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
export { describe as describeValue, epoch, incarnation, isNodeId, nodeId, type Epoch, type Incarnation, type NodeId } from './core/ids.js';
export { SystemClock, systemClock, type Clock, type Timer } from './core/clock.js';
export { defaultRandom, randomInt, seededRandom, type Random } from './core/random.js';
export type { JsonObject, JsonValue } from './core/json.js';
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
export {
  isMessageType,
  MESSAGE_TYPE_PATTERN,
  type AddressResolver,
  type HandlerContext,
  type IncomingMessage,
  type MessageHandler,
  type NodeAddress,
  type RequestOptions,
  type SendOptions,
  type Transport,
  type TransportCapabilities,
  type TransportEvents,
} from './contracts/transport.js';
export { fenceValue, parseFenceValue, raiseFence, readFence, type RaiseFenceOptions, type RaisedFence } from './storage/fence.js';
export { MAX_KEY_LENGTH, validateKey, validatePrefix } from './storage/keys.js';
export { StorageBase } from './storage/storage-base.js';
