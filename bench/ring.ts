/**
 * Ring monitoring benchmark (issue 3), all in one run:
 *
 * 1. Crash → failure-script start, over ≥ 20 SIGKILLs of real node processes (TcpTransport on
 *    loopback, FileStorage, worker liveness writer), in units of H. Goal p50 ≤ 1.5 H, p99 ≤ 3 H.
 * 2. Messages per node per H at 10, 100 and 1,000 simulated nodes, beside an all-to-all heartbeat
 *    baseline built here with the same H.
 * 3. Storage operations per node per H (liveness writes; reads, which happen only on suspicion).
 * 4. CPU of 16 and 32 real node processes at H = 500 ms, with the count of false failures.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeId, type NodeId } from '../src/core/ids.js';
import { startChild, type ChildHandle } from '../src/testing/conformance/child-process.js';
import { MemoryNetwork } from '../src/transport/memory/index.js';
import { SimulatedClock } from '../src/testing/index.js';
import { simName, SimCluster } from '../test/fixtures/ring-sim-cluster.js';
import { percentile, type BenchContext, type BenchRow, type BenchSuite } from './harness.js';

const H_REAL = 500;
const H_SIM = 1000;
const SCRIPT = new URL('../test/fixtures/ring-failure-action.sh', import.meta.url).pathname;
const NODE = new URL('../test/fixtures/ring-node.ts', import.meta.url).href;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Line {
  readonly event: string;
  readonly node: string;
  readonly t: number;
  readonly about?: string;
  readonly incarnation?: number;
  readonly totalMs?: number;
}

/** A cluster of real node processes sharing one storage directory. */
class ProcessCluster {
  readonly children = new Map<string, ChildHandle>();
  readonly #root: string;
  readonly #secret = randomBytes(32).toString('hex');
  readonly outputDir: string;

  constructor(root: string) {
    this.#root = root;
    this.outputDir = join(root, 'out');
    mkdirSync(this.outputDir, { recursive: true });
  }

  async start(name: string): Promise<number> {
    const child = startChild(NODE, 'ring-node', {
      name,
      directory: join(this.#root, 'storage'),
      heartbeatIntervalMs: H_REAL,
      secret: this.#secret,
      script: SCRIPT,
      outputDir: this.outputDir,
    });
    this.children.set(name, child);
    const ready = JSON.parse(await child.waitForLine((l) => l.includes('"event":"ready"'))) as Line;
    return ready.incarnation!;
  }

  lines(): Line[] {
    return [...this.children.values()].flatMap((c) => c.lines.map((l) => JSON.parse(l) as Line));
  }

  async stop(): Promise<void> {
    for (const child of this.children.values()) child.process.kill('SIGKILL');
    await Promise.all([...this.children.values()].map((c) => c.exited));
  }
}

/** Reads the CPU time (user + system, ms) of a process from /proc. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

async function detectionLatency(context: BenchContext): Promise<BenchRow[]> {
  const kills = Math.max(4, Math.round(20 * context.scale));
  const names = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
  const cluster = new ProcessCluster(join(context.scratchDir, 'latency'));
  const incarnations = new Map<string, number>();
  const latencies: number[] = [];
  const unstalled: number[] = [];
  try {
    await Promise.all(names.map(async (n) => incarnations.set(n, await cluster.start(n))));
    await sleep(3 * H_REAL);
    for (let k = 0; k < kills; k++) {
      const victim = names[k % names.length]!;
      const incarnation = incarnations.get(victim)!;
      const file = join(cluster.outputDir, `failure-${victim}-${incarnation}.json`);
      await sleep(Math.random() * H_REAL); // kill at a random phase of the heartbeat rounds
      const killedAt = Date.now();
      cluster.children.get(victim)!.process.kill('SIGKILL');
      while (!existsSync(file)) await sleep(10);
      const { startedAt } = JSON.parse(readFileSync(file, 'utf8')) as { startedAt: number };
      latencies.push((startedAt - killedAt) / H_REAL);
      const detector = cluster.lines().find((l) => l.event === 'nodeFailed' && l.about === victim && l.incarnation === incarnation);
      const around = (event: string): number =>
        cluster.lines().filter((l) => l.event === event && l.node === detector?.node && l.t >= killedAt - H_REAL && l.t <= startedAt).length;
      const stalled = around('storageUnavailable') > 0; // the detector's own liveness writes stalled meanwhile
      if (!stalled) unstalled.push((startedAt - killedAt) / H_REAL);
      context.progress(
        `kill ${k + 1}/${kills}: ${victim}#${incarnation} → script after ${(startedAt - killedAt).toFixed(0)} ms ` +
          `(detector ${detector?.node}: ${Math.round(detector?.totalMs ?? Number.NaN)} ms from its first missed heartbeat, ` +
          `${around('roundDiscarded')} late timers${stalled ? ', storage writes stalled' : ''})`,
      );
      incarnations.set(victim, await cluster.start(victim));
      await sleep(3 * H_REAL); // let the restarted process settle (under tsx it compiles TypeScript at startup)
    }
  } finally {
    await cluster.stop();
  }
  const note = `H = ${H_REAL} ms, ${kills} SIGKILLs of 6 real processes (anchors: memberlist LAN ≈ 5–7 probe intervals, a SWIM implementation ≈ 7.6, Akka ≈ 4.5 s at 1 s heartbeats)`;
  return [
    { suite: 'ring', name: 'crash → failure script, p50', value: percentile(latencies, 50), unit: 'H', note: `goal ≤ 1.5 H; ${note}` },
    { suite: 'ring', name: 'crash → failure script, p99', value: percentile(latencies, 99), unit: 'H', note: 'goal ≤ 3 H' },
    { suite: 'ring', name: 'crash → failure script, max', value: Math.max(...latencies), unit: 'H' },
    {
      suite: 'ring',
      name: 'crash → failure script, p99 without storage stall',
      value: percentile(unstalled, 99),
      unit: 'H',
      note: `${latencies.length - unstalled.length} of ${latencies.length} kills stalled the detector's own storage writes (it reported storageUnavailable)`,
    },
  ];
}

/** Ring monitoring: messages sent per node per H, and storage operations per node per H. */
async function ringTraffic(n: number, windowH: number, lossProbability: number): Promise<{ messages: number; writes: number; reads: number }> {
  const c = new SimCluster({ seed: 42 + n, heartbeatIntervalMs: H_SIM, defaultLink: { delayMs: [1, 5], lossProbability } });
  await c.init();
  await c.startNodes(n);
  await c.run(2 * H_SIM);
  const counts = { writes: 0, reads: 0 };
  const storage = c.storage;
  const get = storage.get.bind(storage);
  const transact = storage.transact.bind(storage);
  storage.transact = (...a) => (counts.writes++, transact(...a)); // put() goes through transact()
  storage.get = (...a) => (counts.reads++, get(...a));
  const sent = (): number => [...Array(n).keys()].reduce((sum, i) => sum + c.network.stats(simName(i)).sent, 0);
  const before = sent();
  await c.run(windowH * H_SIM);
  return { messages: (sent() - before) / n / windowH, writes: counts.writes / n / windowH, reads: counts.reads / n / windowH };
}

/**
 * The baseline: every node sends a heartbeat request to every other node once per H and answers
 * all requests. Above 100 nodes only 100 senders are simulated (a full 1,000-node round is a
 * million requests per H) and the per-node load is extrapolated: with S senders the cluster sends
 * S·(n−1) requests and as many replies, so a node of the full mesh sends (total sent) / S.
 */
async function allToAll(n: number, windowH: number): Promise<number> {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock, seed: 7, defaultLink: { delayMs: [1, 5] } });
  const nodes: NodeId[] = [...Array(n).keys()].map((i) => nodeId(`a${i}`));
  const transports = nodes.map((node) => network.transport(node));
  await Promise.all(transports.map((t) => t.start()));
  for (const t of transports) t.handle('bench.heartbeat', () => ({ ok: true }));
  const senders = transports.slice(0, Math.min(n, 100));
  for (const t of senders) {
    const round = (): void => {
      for (const peer of nodes) if (peer !== t.self) void t.request(peer, 'bench.heartbeat', null, { timeoutMs: H_SIM / 4 }).catch(() => undefined);
      clock.setTimeout(round, H_SIM);
    };
    clock.setTimeout(round, Math.random() * H_SIM);
  }
  await clock.advance(H_SIM);
  const sent = (): number => nodes.reduce((sum, node) => sum + network.stats(node).sent, 0);
  const before = sent();
  await clock.advance(windowH * H_SIM);
  const perNode = (sent() - before) / senders.length / windowH;
  await Promise.all(transports.map((t) => t.close()));
  return perNode;
}

async function messagesAndStorage(context: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const n of [10, 100, 1000]) {
    const windowH = n === 1000 ? Math.max(3, Math.round(10 * context.scale)) : 20;
    context.progress(`ring traffic of ${n} simulated nodes over ${windowH} H`);
    const ring = await ringTraffic(n, windowH, 0);
    const baselineWindow = n === 1000 ? 2 : 5;
    context.progress(`all-to-all baseline of ${n} simulated nodes over ${baselineWindow} H`);
    const baseline = await allToAll(n, baselineWindow);
    rows.push(
      { suite: 'ring', name: `all-to-all heartbeats, messages/node/H, n=${n}`, value: baseline, unit: 'msg', note: n > 100 ? 'baseline: requests + replies sent (100 senders, extrapolated)' : 'baseline: requests + replies sent' },
      {
        suite: 'ring',
        name: `ring monitoring, messages/node/H, n=${n}`,
        value: ring.messages,
        unit: 'msg',
        baseline: `all-to-all heartbeats, messages/node/H, n=${n}`,
        ratio: ring.messages / baseline,
        note: 'one heartbeat + one reply',
      },
      { suite: 'ring', name: `storage writes/node/H, n=${n}`, value: ring.writes, unit: 'ops', note: 'liveness writer every H/4 (no suspicion)' },
      { suite: 'ring', name: `storage reads/node/H, n=${n}`, value: ring.reads, unit: 'ops', note: 'reads only on suspicion' },
    );
  }
  context.progress('storage reads under 10% message loss, 100 simulated nodes');
  const lossy = await ringTraffic(100, 20, 0.1);
  rows.push({ suite: 'ring', name: 'storage reads/node/H, n=100, 10% loss', value: lossy.reads, unit: 'ops', note: 'stage 2 runs when both heartbeat attempts are lost' });
  return rows;
}

async function cpu(context: BenchContext, count: number): Promise<BenchRow[]> {
  const windowMs = Math.max(10_000, 60_000 * context.scale);
  const cluster = new ProcessCluster(join(context.scratchDir, `cpu-${count}`));
  try {
    context.progress(`starting ${count} node processes`);
    for (let i = 0; i < count; i += 4) {
      await Promise.all([...Array(Math.min(4, count - i)).keys()].map((j) => cluster.start(`c${String(i + j).padStart(2, '0')}`)));
    }
    await sleep(4 * H_REAL);
    const pids = [...cluster.children.values()].map((c) => c.process.pid!);
    const before = pids.map(cpuMs);
    const failuresBefore = cluster.lines().filter((l) => l.event === 'nodeFailed').length;
    context.progress(`measuring ${count} processes for ${windowMs / 1000} s`);
    await sleep(windowMs);
    const used = pids.map((pid, i) => cpuMs(pid) - before[i]!);
    const failures = cluster.lines().filter((l) => l.event === 'nodeFailed').length - failuresBefore;
    const perProcess = used.reduce((a, b) => a + b, 0) / count / windowMs;
    return [
      {
        suite: 'ring',
        name: `CPU per node process, ${count} processes`,
        value: perProcess * 100,
        unit: '% of a core',
        note: `H = ${H_REAL} ms over ${windowMs / 1000} s (main + liveness worker thread); false failures: ${failures}`,
      },
    ];
  } finally {
    await cluster.stop();
  }
}

const suite: BenchSuite = async (context) => [
  ...(await detectionLatency(context)),
  ...(await messagesAndStorage(context)),
  ...(await cpu(context, 16)),
  ...(await cpu(context, 32)),
];

export default suite;
