import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readClusterConfig } from '../../src/cluster/index.js';
import { InvalidArgumentError, StorageUnavailableError } from '../../src/core/errors.js';
import type { Storage } from '../../src/contracts/storage.js';
import { encodeLiveness, livenessKey } from '../../src/ring/liveness-record.js';
import {
  ClockLivenessWriter,
  RingMonitor,
  type FailureActionResult,
  type LivenessTarget,
  type LivenessWriter,
  type RingMonitorOptions,
} from '../../src/ring/index.js';
import { MemoryStorage } from '../../src/storage/memory/index.js';
import { MemoryNetwork } from '../../src/transport/memory/index.js';
import { SimulatedClock } from '../../src/testing/index.js';
import { simName, SimCluster } from '../fixtures/ring-sim-cluster.js';

const H = 1000;
const SCRIPT = new URL('../fixtures/ring-failure-action.sh', import.meta.url).pathname;

async function cluster(n: number, options: Partial<ConstructorParameters<typeof SimCluster>[0]> = {}): Promise<SimCluster> {
  const c = new SimCluster({ seed: 1, heartbeatIntervalMs: H, ...options });
  await c.init();
  await c.startNodes(n);
  await c.run(2 * H);
  return c;
}

/** Settles `promise` while the simulated clock runs. */
async function whileRunning<T>(c: SimCluster, promise: Promise<T>, ms = 10 * H): Promise<T> {
  const settled = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  let done = false;
  void settled.then(() => (done = true));
  for (let t = 0; t < ms && !done; t += H / 10) await c.run(H / 10);
  const outcome = await settled;
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

describe('RingMonitor options', () => {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock, seed: 1 });
  const storage = new MemoryStorage();
  const base = (): RingMonitorOptions => ({
    transport: network.transport('opt'),
    storage,
    livenessWriter: new ClockLivenessWriter({ storage, clock }),
    clock,
  });

  it.each([
    ['heartbeatIntervalMs', { heartbeatIntervalMs: 0 }],
    ['heartbeatIntervalMs', { heartbeatIntervalMs: -5 }],
    ['heartbeatIntervalMs', { heartbeatIntervalMs: Number.NaN }],
    ['storage', { storage: undefined }],
    ['transport', { transport: undefined }],
    ['livenessWriter', { livenessWriter: undefined }],
    ['replyTimeoutMs', { heartbeatIntervalMs: 100, replyTimeoutMs: 200 }],
    ['retries', { retries: 1.5 }],
    ['livenessTimeoutMs', { livenessIntervalMs: 100, livenessTimeoutMs: 150 }],
    ['address.port', { address: { host: 'h', port: 70_000 } }],
    ['roles', { roles: [''] }],
    ['failureAction.script', { failureAction: { script: '' } }],
    ['failureAction.timeoutMs', { failureAction: { timeoutMs: 0 } }],
  ])('reject a bad %s at construction, naming it', (option, patch) => {
    const attempt = (): RingMonitor => new RingMonitor({ ...base(), ...patch } as RingMonitorOptions);
    expect(attempt).toThrow(InvalidArgumentError);
    expect(attempt).toThrow(new RegExp(`^${option.replace('.', '\\.')}: `));
  });

  it('rejects a failure script that does not exist or is not executable at start, naming the option', async () => {
    const dir = mkdtempSync(join(process.cwd(), '.tmp', 'ring-opt-'));
    try {
      const notExecutable = join(dir, 'action.sh');
      writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
      for (const script of [join(dir, 'missing.sh'), notExecutable]) {
        const c = await cluster(0);
        const transport = c.network.transport('solo');
        await transport.start();
        const monitor = new RingMonitor({ transport, storage: c.storage, livenessWriter: new ClockLivenessWriter({ storage: c.storage, clock: c.clock }), clock: c.clock, failureAction: { script } });
        const error = await monitor.start().catch((err: unknown) => err);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as InvalidArgumentError).option).toBe('failureAction.script');
        expect(monitor.state).toBe('closed');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('RingMonitor on a simulated cluster', () => {
  it('builds the ring from the configuration: each node monitors the next by name', async () => {
    const c = await cluster(5);
    const config = await readClusterConfig(c.storage);
    expect(config.members.size).toBe(5);
    for (let i = 0; i < 5; i++) {
      const node = c.nodes.get(simName(i))!;
      expect(node.monitor.monitoring).toBe(simName((i + 1) % 5));
      expect(node.monitor.monitoredBy).toBe(simName((i + 4) % 5));
      expect(config.ring.get(simName(i))).toBe(simName((i + 1) % 5));
      expect(config.members.get(simName(i))).toMatchObject({ state: 'active', incarnation: 1, host: `${simName(i)}.sim` });
    }
  });

  it('declares a crashed node failed once, with both stages of evidence, runs the action, and re-closes the ring', async () => {
    const out = mkdtempSync(join(process.cwd(), '.tmp', 'ring-action-'));
    try {
      const calls: string[] = [];
      const c = await cluster(5, { monitor: { failureAction: { script: SCRIPT, args: [out], callback: (f) => void calls.push(`${f.node}#${f.incarnation}`) } } });
      const done = new Promise<FailureActionResult>((resolve) => c.nodes.get(simName(1))!.monitor.once('failureActionDone', resolve));
      const crashedAt = c.clock.now();
      c.crash(simName(2));
      await c.run(6 * H);
      expect(c.failures).toHaveLength(1);
      const { failure, at } = c.failures[0]!;
      expect(failure).toMatchObject({ node: simName(2), incarnation: 1, detector: simName(1), host: `${simName(2)}.sim` });
      expect(failure.stage1?.errors).toEqual(['ERR_UNREACHABLE', 'ERR_UNREACHABLE']);
      expect(failure.stage2).toMatchObject({ verdict: 'dead', failedReads: 0 });
      expect(failure.stage2.windowMs).toBeGreaterThanOrEqual(750);
      expect(at - crashedAt).toBeLessThanOrEqual(2 * H);
      expect(c.nodes.get(simName(1))!.monitor.monitoring).toBe(simName(3));
      const config = await readClusterConfig(c.storage);
      expect(config.members.get(simName(2))).toMatchObject({ state: 'failed', failedBy: simName(1) });
      expect(config.ring.get(simName(1))).toBe(simName(3));

      const result = await done;
      expect(calls).toEqual([`${simName(2)}#1`]);
      expect(result.callback).toMatchObject({ ok: true });
      expect(result.script).toMatchObject({ exitCode: 0, timedOut: false, stdout: `recorded failure of ${simName(2)}\n` });
      const record = JSON.parse(readFileSync(join(out, `failure-${simName(2)}-1.json`), 'utf8')) as unknown;
      expect(record).toMatchObject({ node: simName(2), host: `${simName(2)}.sim`, port: 0, incarnation: 1, detector: simName(1), generation: failure.generation });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('leaves the ring on close: leaving, then left; the ring re-closes and nothing is declared failed', async () => {
    const c = await cluster(4);
    const leaving = c.nodes.get(simName(1))!.monitor;
    await whileRunning(c, leaving.close());
    await c.run(5 * H);
    expect(c.failures).toEqual([]);
    const config = await readClusterConfig(c.storage);
    expect(config.members.get(simName(1))).toMatchObject({ state: 'left', incarnation: 1 });
    expect(c.nodes.get(simName(0))!.monitor.monitoring).toBe(simName(2));
    expect(leaving.state).toBe('closed');
  });

  it('gives a restarted node a new incarnation', async () => {
    const c = await cluster(3);
    await whileRunning(c, c.nodes.get(simName(1))!.monitor.close());
    c.network.kill(simName(1)); // the old process's transport
    const restarted = await whileRunning(c, c.startNode(simName(1)));
    expect(restarted.monitor.incarnation).toBe(2);
    expect((await readClusterConfig(c.storage)).members.get(simName(1))).toMatchObject({ state: 'active', incarnation: 2 });
  });

  it('refuses to start a second live incarnation of a node name, naming the option', async () => {
    const c = await cluster(3);
    const other = new MemoryNetwork({ clock: c.clock, seed: 2 });
    const transport = other.transport(simName(1));
    await transport.start();
    const duplicate = new RingMonitor({ transport, storage: c.storage, livenessWriter: new ClockLivenessWriter({ storage: c.storage, clock: c.clock }), clock: c.clock });
    const error = await whileRunning(c, duplicate.start().catch((err: unknown) => err));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).option).toBe('transport.self');
    expect(c.failures).toEqual([]);
    expect((await readClusterConfig(c.storage)).members.get(simName(1))).toMatchObject({ state: 'active', incarnation: 1 });
  });

  it('declares a crashed incarnation failed exactly once when its restart races its monitor', async () => {
    for (const delay of [0, 300, 600, 900, 1200]) {
      const c = await cluster(4);
      c.crash(simName(2));
      await c.run(delay);
      c.network.kill(simName(2));
      const restarted = await whileRunning(c, c.startNode(simName(2)));
      await c.run(5 * H);
      const declared = c.failures.map((f) => `${f.failure.node}#${f.failure.incarnation}`);
      expect(declared, `restart after ${delay} ms`).toEqual([`${simName(2)}#1`]);
      expect(restarted.monitor.incarnation).toBe(2);
      expect(c.nodes.get(simName(1))!.monitor.monitoring).toBe(simName(2));
    }
  });

  it('does not declare a node paused for less than the liveness timeout', async () => {
    const c = await cluster(4);
    c.pause(simName(2));
    await c.run(0.6 * H);
    c.resume(simName(2));
    await c.run(5 * H);
    expect(c.failures).toEqual([]);
  });

  it('declares a node paused for long; on resume it is fenced and stops acting', async () => {
    const c = await cluster(4);
    const zombie = c.nodes.get(simName(2))!;
    c.pause(zombie.name);
    await c.run(5 * H);
    expect(c.failures.map((f) => f.failure.node)).toEqual([zombie.name]);
    const fenced = new Promise((resolve) => zombie.monitor.once('fenced', resolve));
    c.resume(zombie.name);
    await c.run(H);
    expect(await fenced).toMatchObject({ node: zombie.name, incarnation: 1, state: 'failed', failedBy: simName(1) });
    expect(zombie.monitor.state).toBe('fenced');
    await c.run(5 * H);
    expect(c.failures).toHaveLength(1); // the zombie accused nobody
  });

  it('reports a node whose link is cut but whose liveness record moves as unreachable, not failed', async () => {
    const c = await cluster(4);
    c.network.partition(simName(1), simName(2));
    await c.run(5 * H);
    expect(c.failures).toEqual([]);
    expect(c.events.filter((e) => e.type === 'unreachable').map((e) => `${e.node}→${e.about}`)).toContain(`${simName(1)}→${simName(2)}`);
  });

  it('reports a node whose liveness writer runs but whose main loop does not as degraded, not failed', async () => {
    const c = new SimCluster({ seed: 1, heartbeatIntervalMs: H });
    await c.init();
    const stalled = new StalledMainWriter(c.storage, c.clock);
    await c.startNodes(2);
    // Replace b's writer output: its main counter stops while its writer goes on.
    await c.nodes.get(simName(1))!.monitor.close().catch(() => undefined);
    await whileRunning(c, startWith(c, simName(1), stalled));
    c.network.pause(simName(1));
    await c.run(5 * H);
    expect(c.failures).toEqual([]);
    expect(c.events.some((e) => e.type === 'degraded' && e.about === simName(1))).toBe(true);
  });

  it('declares nothing while storage cannot be read, reports it, and declares once it can', async () => {
    const c = await cluster(3);
    const broken = { down: true };
    const observer = c.nodes.get(simName(0))!;
    // Reads of the crashed node's liveness record (only its monitor makes them) fail while `broken.down`.
    const original = c.storage.get.bind(c.storage);
    c.storage.get = (key, options) =>
      key === livenessKey(simName(1)) && broken.down ? Promise.reject(new StorageUnavailableError('disk gone')) : original(key, options);
    c.crash(simName(1));
    await c.run(6 * H);
    expect(c.failures).toEqual([]);
    expect(c.events.some((e) => e.node === observer.name && e.type === 'storageUnavailable')).toBe(true);
    broken.down = false;
    await c.run(4 * H);
    expect(c.failures.map((f) => `${f.failure.node} by ${f.failure.detector}`)).toEqual([`${simName(1)} by ${simName(0)}`]);
  });

  it('declares nothing while storage writes are stalled (no liveness record moves, its own neither)', async () => {
    const c = await cluster(4);
    // Every liveness write hangs, as when a killed process holds FileStorage's commit lock.
    let release: () => void = () => undefined;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    let stall = true;
    const transact = c.storage.transact.bind(c.storage);
    c.storage.transact = async (ops, options) => {
      if (stall && ops.some((op) => 'key' in op && op.key.startsWith('ring/liveness/'))) await stalled;
      return transact(ops, options);
    };
    c.crash(simName(2));
    await c.run(6 * H);
    expect(c.failures).toEqual([]);
    expect(c.events.some((e) => e.node === simName(1) && e.type === 'storageUnavailable')).toBe(true);
    stall = false;
    release();
    await c.run(4 * H);
    expect(c.failures.map((f) => `${f.failure.node} by ${f.failure.detector}`)).toEqual([`${simName(2)} by ${simName(1)}`]);
  });

  it('discards a round whose timer ran late instead of accusing its neighbour', async () => {
    const c = await cluster(3);
    const observer = c.nodes.get(simName(0))!;
    c.stall(observer.name); // a busy main thread: its round timer fires late when it is free again
    await c.run(1.6 * H);
    c.unstall(observer.name);
    await c.run(4 * H);
    expect(c.events.some((e) => e.node === observer.name && e.type === 'roundDiscarded')).toBe(true);
    expect(c.failures).toEqual([]);
  });
});

/** A liveness writer whose `main` counter never moves: a node whose main event loop is stuck. */
class StalledMainWriter implements LivenessWriter {
  readonly #storage: Storage;
  readonly #clock: SimulatedClock;
  #closed = false;
  constructor(storage: Storage, clock: SimulatedClock) {
    this.#storage = storage;
    this.#clock = clock;
  }
  async start(target: LivenessTarget): Promise<void> {
    let beat = 0;
    const write = async (): Promise<void> => {
      if (this.#closed) return;
      await this.#storage.put(livenessKey(target.node), encodeLiveness({ incarnation: target.incarnation, beat: ++beat, main: 1 }));
      this.#clock.setTimeout(() => void write(), target.intervalMs);
    };
    await write();
  }
  async close(): Promise<void> {
    this.#closed = true;
  }
}

async function startWith(c: SimCluster, name: ReturnType<typeof simName>, writer: LivenessWriter): Promise<void> {
  c.network.kill(name);
  const transport = c.network.transport(name);
  await transport.start();
  const monitor = new RingMonitor({ transport, storage: c.storage, livenessWriter: writer, clock: c.clock, heartbeatIntervalMs: H });
  await monitor.start();
}
