/**
 * Handling failures: every error nonstop raises, where it really occurs, and what to do about it.
 *
 * Every error is a `NonstopError` with a stable `code` to branch on and a `retryable` flag: `true`
 * means the same call may succeed if simply tried again after a pause (a time-out, an unreachable
 * node, storage that is briefly unavailable); `false` means retrying unchanged cannot help (bad
 * input, a lost compare-and-set, a superseded authority). `retry()` below is a small generic retry
 * helper built on `isRetryable`.
 *
 * Careful with writes: a write that fails with `TimeoutError`, `AbortedError` or
 * `StorageUnavailableError` may or may not have taken effect. Retry only idempotent calls
 * blindly; for anything else, read first (or use compare-and-set, as the counter below does).
 *
 * Run: npx tsx examples/error-handling.ts   (after npm run build)
 */
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortedError,
  ClosedError,
  ConflictError,
  epoch,
  FencedError,
  fromUtf8,
  incarnation,
  InvalidArgumentError,
  InvalidKeyError,
  isRetryable,
  NoHandlerError,
  nodeId,
  NonstopError,
  ProtocolError,
  raiseFence,
  readFence,
  RemoteError,
  seededRandom,
  StorageCorruptError,
  StorageUnavailableError,
  systemClock,
  TimeoutError,
  UnreachableError,
  utf8,
  type AppendResult,
  type Clock,
  type Epoch,
  type FencedOptions,
  type RaisedFence,
  type RaiseFenceOptions,
  type Incarnation,
  type JsonObject,
  type NonstopErrorOptions,
  type Random,
  type Storage,
  type StorageEvents,
  type Timer,
  type WriteOptions,
} from 'nonstop';
import { FileStorage, type FileStorageOptions } from 'nonstop/storage/file';
import { MemoryStorage } from 'nonstop/storage/memory';
import { MemoryNetwork } from 'nonstop/transport/memory';
import { TcpTransport } from 'nonstop/transport/tcp';

// ---------------------------------------------------------------- the helpers an application writes

/** An application's own error: subclass NonstopError, give it a stable code, keep the cause. */
class GaveUpError extends NonstopError {
  readonly code = 'ERR_APP_GAVE_UP' as const;
  readonly retryable = false as const;

  constructor(what: string, attempts: number, options?: NonstopErrorOptions) {
    super(`${what}: gave up after ${attempts} attempts`, options);
  }
}

interface RetryOptions {
  readonly attempts?: number;
  readonly initialDelayMs?: number;
  /** Time source of the pauses (inject a SimulatedClock in tests). */
  readonly clock?: Clock;
  /** Jitter source (seededRandom(n) makes runs reproducible). */
  readonly random?: Random;
}

/**
 * Calls `fn` until it succeeds, as long as it fails with a retryable error, pausing with
 * exponential backoff and ±25 % jitter in between. Non-retryable errors are thrown at once;
 * when the attempts run out, a GaveUpError carries the last error as its cause.
 */
async function retry<T>(what: string, fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { attempts = 5, initialDelayMs = 50, clock = systemClock, random = seededRandom(1) } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetryable(err)) throw err;
      if (attempt === attempts) throw new GaveUpError(what, attempts, { cause: err });
      const delay = initialDelayMs * 2 ** (attempt - 1) * (0.75 + random.next() / 2);
      console.log(`  ${what}: attempt ${attempt} failed with ${(err as NonstopError).code}; retrying in ${delay.toFixed(0)} ms`);
      await clock.sleep(delay);
    }
  }
}

/** Runs a call that must fail with `type`, and prints the error (this tour's checking helper). */
async function expectFailure<E extends NonstopError>(type: abstract new (...args: never[]) => E, call: () => unknown): Promise<E> {
  try {
    await call();
  } catch (err) {
    if (!(err instanceof type)) throw err;
    console.log(`  ${err.name} [${err.code}, retryable: ${err.retryable}] ${err.message}`);
    return err;
  }
  throw new Error(`expected a ${type.name}`);
}

const section = (title: string): void => console.log(`\n== ${title}`);
const root = mkdtempSync(join(tmpdir(), 'nonstop-errors-'));

try {
  // ---------------------------------------------------------------- bad input: fix the code
  section('bad input is rejected at the boundary (never retryable)');
  const fromConfig: FileStorageOptions = { directory: root, lockStaleMs: 100 }; // e.g. read from a config file
  const invalid = await expectFailure(InvalidArgumentError, () => new FileStorage(fromConfig));
  console.log(`  the option to fix: ${invalid.option}`);
  await expectFailure(InvalidArgumentError, () => epoch(0, 'lease.epoch')); // epochs are positive integers

  const storage: Storage = new MemoryStorage();
  await storage.start();
  const badKey = await expectFailure(InvalidKeyError, () => storage.get('orders/../secrets'));
  console.log(`  the key: ${badKey.key}`);

  // ---------------------------------------------------------------- conflicts: read again
  section('ConflictError: compare-and-set lost a race: read again and recompute');
  const increment = async (key: string): Promise<number> => {
    for (;;) {
      const current = await storage.get(key);
      const next = (current ? Number(fromUtf8(current.value)) : 0) + 1;
      const options: WriteOptions = { expect: current?.version ?? 'absent' };
      try {
        await storage.put(key, utf8(String(next)), options);
        return next;
      } catch (err) {
        // Not retryable as is (the same expectation fails again), but after a fresh read it may work.
        if (!(err instanceof ConflictError)) throw err;
        console.log(`  lost the race on ${err.key} (now at version ${err.actualVersion}); reading again`);
      }
    }
  };
  const counts = await Promise.all([increment('app/counter'), increment('app/counter'), increment('app/counter')]);
  console.log(`  three concurrent increments ended at ${Math.max(...counts)}`);

  // ---------------------------------------------------------------- fencing: stop acting
  section('FencedError: another node took over this authority: stop, do not retry');
  /** Takes the leadership: a new epoch, and the record naming the leader, in one atomic step. */
  const becomeLeader = (node: string, from?: Epoch): Promise<RaisedFence> => {
    const options: RaiseFenceOptions = {
      with: [{ op: 'put', key: 'app/leader-node', value: utf8(node) }],
      ...(from === undefined ? {} : { from }), // only if the fence still holds the epoch we saw
    };
    return raiseFence(storage, 'app/leader', options);
  };
  const mine: Epoch = (await becomeLeader('node-a')).epoch;
  const asLeader = (held: Epoch): FencedOptions => ({ fence: { key: 'app/leader', epoch: held } });
  const written: AppendResult = await storage.append('app/journal', [utf8('step 1')], asLeader(mine));
  console.log(`  as leader of epoch ${mine}, appended at offset ${written.first}`);
  await becomeLeader('node-b', mine); // a successor takes over
  const fenced = await expectFailure(FencedError, () => storage.append('app/journal', [utf8('step 2')], asLeader(mine)));
  const leader = fromUtf8((await storage.get('app/leader-node'))!.value);
  console.log(`  the fence holds epoch ${await readFence(storage, 'app/leader')} (the error says ${fenced.actualEpoch}) for ${leader}: node-a steps down`);

  section('ClosedError: the object was closed');
  await storage.close();
  await expectFailure(ClosedError, () => storage.get('app/counter'));

  // ---------------------------------------------------------------- storage outage: retry
  section('StorageUnavailableError: the shared directory went away for a moment (retryable)');
  const directory = join(root, 'shared');
  const files = new FileStorage({ directory });
  await files.start();
  await files.put('app/config', utf8('{"mode":"active"}'));
  // Every storage reports outages as events too: feed them to health checks and metrics.
  const health: { [E in keyof StorageEvents]: (...args: StorageEvents[E]) => void } = {
    unavailable: (error) => console.log(`  [event] storage unavailable: ${error.message}`),
    available: () => console.log('  [event] storage available again'),
  };
  files.on('unavailable', health.unavailable).on('available', health.available);
  renameSync(directory, `${directory}.away`); // as if the NFS mount dropped out …
  await expectFailure(StorageUnavailableError, () => files.get('app/config'));
  const remount: Timer = systemClock.setTimeout(() => renameSync(`${directory}.away`, directory), 120); // … and came back
  try {
    const config = await retry('read app/config', () => files.get('app/config'));
    console.log(`  read after the outage: ${fromUtf8(config!.value)}`);
  } finally {
    remount.cancel(); // does nothing if it already ran
  }
  await files.close();

  // ---------------------------------------------------------------- corruption: stop and investigate
  section('StorageCorruptError: data failed its checksum (never retried silently)');
  const log = join(directory, 'log');
  const newest = join(log, readdirSync(log).sort().at(-1)!);
  const bytes = readFileSync(newest);
  const at = bytes.length - 3;
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at); // one flipped bit on disk
  writeFileSync(newest, bytes);
  const reopened = new FileStorage({ directory });
  await expectFailure(StorageCorruptError, () => reopened.start());
  await reopened.close();

  // ---------------------------------------------------------------- the network
  section('transport errors on a simulated network (real time)');
  const network = new MemoryNetwork({ clock: systemClock, seed: 1 });
  const client = network.transport('client');
  await client.start();
  const serverId = nodeId('server');
  let handled = 0;
  let serverIncarnation: Incarnation = incarnation(1);
  const startServer = async (): Promise<void> => {
    const server = network.transport(serverId);
    server.handle('app.status', (): JsonObject => {
      handled++;
      return { node: serverId, incarnation: serverIncarnation };
    });
    server.handle('app.reserve', () => {
      throw new ConflictError('stock/widget', 7); // reaches the caller as RemoteError ERR_CONFLICT
    });
    server.handle('app.flaky', () => {
      throw new GaveUpError('reserve stock', 3, { cause: new Error('database busy') });
    });
    server.handle('app.slow', (_message, context) => systemClock.sleep(10_000, context.signal).then(() => 'done'));
    await server.start();
  };
  await startServer();
  const status = (): Promise<JsonObject> => client.request(serverId, 'app.status', {}, { timeoutMs: 100 }) as Promise<JsonObject>;

  console.log('a paused node (like SIGSTOP) does not answer:');
  network.pause(serverId);
  await expectFailure(TimeoutError, status);
  systemClock.setTimeout(() => network.resume(serverId), 250);
  const afterPause = await retry('status', status);
  console.log(`  answered by ${JSON.stringify(afterPause)}; the handler ran ${handled} times for 1 answer:`);
  console.log('  requests that timed out were still delivered on resume, so handlers must be idempotent');

  console.log('a killed node is unreachable until it starts again:');
  network.kill(serverId);
  await expectFailure(UnreachableError, status);
  serverIncarnation = incarnation(serverIncarnation + 1);
  systemClock.setTimeout(() => void startServer(), 150);
  const afterRestart = await retry('status', status);
  console.log(`  answered by incarnation ${afterRestart['incarnation']}: it restarted and lost its in-memory state`);

  console.log('requests the server cannot or will not serve:');
  await expectFailure(NoHandlerError, () => client.request(serverId, 'app.unknown', {}, { timeoutMs: 100 }));
  const remote = await expectFailure(RemoteError, () => client.request(serverId, 'app.reserve', {}, { timeoutMs: 100 }));
  console.log(`  the handler threw ${remote.remoteCode}`);
  const gaveUp = await expectFailure(RemoteError, () => client.request(serverId, 'app.flaky', {}, { timeoutMs: 100 }));
  console.log(`  the handler threw the application's ${gaveUp.remoteCode} (retryable: ${gaveUp.retryable})`);

  console.log('the caller gives up:');
  await expectFailure(AbortedError, () => client.request(serverId, 'app.slow', {}, { timeoutMs: 1_000, signal: AbortSignal.timeout(50) }));
  await client.close();
  await expectFailure(ClosedError, () => client.send(serverId, 'app.status', {}));
  network.kill(serverId);

  // ---------------------------------------------------------------- bad frames
  section('ProtocolError: a TCP transport drops a frame that is not authentic');
  const node = new TcpTransport({ self: nodeId('tcp-node'), listen: { host: '127.0.0.1', port: 0 }, resolve: () => undefined, secret: 'a cluster secret of at least 32 bytes!' });
  const rejected = new Promise<ProtocolError>((resolve) => node.once('frameRejected', (error) => resolve(error)));
  await node.start();
  const socket = connect(node.address!.port, node.address!.host, () => {
    const body = Buffer.from('{"type":"app.status","forged":true}');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    socket.end(Buffer.concat([header, body])); // a length prefix and bytes without a valid MAC
  });
  socket.on('error', () => undefined);
  const protocolError = await rejected;
  console.log(`  [event] frameRejected: ${protocolError.code} (${protocolError.reason}); the node keeps running`);
  await node.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
