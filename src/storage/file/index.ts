/**
 * The embedded default storage: a shared directory (`nonstop/storage/file`).
 *
 * @module
 */
export { FileStorage, type FileStorageOptions } from './file-storage.js';
