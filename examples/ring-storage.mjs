// The storage factory that a WorkerLivenessWriter's worker thread loads (`storageModule`) in
// examples/ring-monitor.ts and examples/demo.ts: the worker opens its own FileStorage on the same
// shared directory as its node. Plain JavaScript on purpose: the worker runs the compiled library
// from dist/ without a TypeScript loader, so it can only import JavaScript.

import { FileStorage } from 'nonstop/storage/file';

/**
 * A process killed while it holds the commit lock stalls every commit until the lock goes stale,
 * so the examples use the minimum `lockStaleMs` (2 s; the default is 10 s).
 *
 * @param {{ directory: string }} options
 * @returns {FileStorage}
 */
export function createStorage(options) {
  return new FileStorage({ directory: options.directory, lockStaleMs: 2000 });
}
