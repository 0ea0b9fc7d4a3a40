/**
 * In-process storage for tests and simulations (`nonstop/storage/memory`).
 *
 * @module
 */
export { MemoryStorage, type MemoryStorageOptions } from './memory-storage.js';
