/**
 * The worker-thread side of {@link WorkerLivenessWriter}: opens its own storage and rewrites the
 * node's liveness record every interval, whatever the main event loop is doing.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Storage } from '../contracts/storage.js';
import { encodeLiveness, livenessKey } from './liveness-record.js';
import type { LivenessWorkerData, LivenessWorkerMessage } from './worker-liveness-writer.js';

const data = workerData as LivenessWorkerData;
const port = parentPort!;
const post = (message: LivenessWorkerMessage): void => port.postMessage(message);
const failure = (err: unknown): LivenessWorkerMessage => ({
  type: 'error',
  message: err instanceof Error ? err.message : String(err),
  code: typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'ERR_UNKNOWN',
});

const main = new Int32Array(data.mainCounter);
let storage: Storage | undefined;
let timer: NodeJS.Timeout | undefined;
let beat = 0;
let writing = false;
let stopped = false;

function write(): Promise<number> {
  beat++;
  return storage!.put(livenessKey(data.node), encodeLiveness({ incarnation: data.incarnation, beat, main: Atomics.load(main, 0) }));
}

function tick(): void {
  if (stopped) return;
  timer = setTimeout(tick, data.intervalMs);
  if (writing) return;
  writing = true;
  write()
    .catch((err: unknown) => post(failure(err)))
    .finally(() => {
      writing = false;
    });
}

port.on('message', (message: { type: 'stop' }) => {
  if (message.type !== 'stop') return;
  stopped = true;
  clearTimeout(timer);
  void (storage?.close() ?? Promise.resolve()).finally(() => port.close());
});

try {
  const module = (await import(data.storageModule)) as Record<string, unknown>;
  const factory = module[data.storageExport];
  if (typeof factory !== 'function') throw new TypeError(`${data.storageModule} has no function export ${JSON.stringify(data.storageExport)}`);
  storage = (await (factory as (options: unknown) => Storage | Promise<Storage>)(data.storageOptions));
  await storage.start();
  await write();
  post({ type: 'started' });
  timer = setTimeout(tick, data.intervalMs);
} catch (err) {
  post(failure(err));
}
