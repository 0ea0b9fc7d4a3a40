/**
 * A simulated cluster of 20 nodes, each running a RingMonitor, on one SimulatedClock, one
 * MemoryNetwork and one shared MemoryStorage — the way a host project tests its failure handling
 * (B3) without processes, sockets or waiting. Two neighbouring nodes are killed at the same moment;
 * their monitors detect them in two stages, the failure action runs exactly once per failure, and
 * the ring closes around the gap. Deterministic: run it twice and the output is the same.
 *
 *   npx tsx examples/ring-simulation.ts
 */
import {
  ClockLivenessWriter,
  ClusterView,
  nodeId,
  readClusterConfig,
  RingMonitor,
  ringOf,
  seededRandom,
  type CallbackOutcome,
  type ClockLivenessWriterOptions,
  type Clock,
  type ClusterConfig,
  type ClusterViewEvents,
  type ClusterViewOptions,
  type FailureActionOptions,
  type FailureActionResult,
  type LivenessRecord,
  type LivenessTarget,
  type LivenessVerdict,
  type LivenessWriter,
  type LivenessWriterStartOptions,
  type Member,
  type MemberState,
  type NodeFailure,
  type NodeId,
  type RingChange,
  type RingMonitorEvents,
  type RingMonitorOptions,
  type RingMonitorState,
  type Stage1Evidence,
  type Stage2Evidence,
  type Timer,
} from 'nonstop';
import { MemoryStorage } from 'nonstop/storage/memory';
import { SimulatedClock } from 'nonstop/testing';
import { MemoryNetwork } from 'nonstop/transport/memory';

const N = 20;
const H = 500; // heartbeat interval (simulated milliseconds)
const VICTIMS = [nodeId('node-07'), nodeId('node-08')];

const clock = new SimulatedClock();
const network = new MemoryNetwork({ clock, seed: 7, defaultLink: { delayMs: [1, 5] } });
const storage = new MemoryStorage();
await storage.start();
const say = (text: string): void => console.log(`[t=${(clock.now() / 1000).toFixed(3).padStart(7)} s] ${text}`);

/**
 * A node's "process" in the simulation: the clock of everything the node runs. Killing it stops
 * every timer — the monitor's rounds and its liveness writer — like SIGKILL stops a real process.
 */
class SimulatedProcess implements Clock {
  killed = false;
  now(): number {
    return clock.now();
  }
  setTimeout(callback: () => void, ms: number): Timer {
    return clock.setTimeout(() => this.killed || callback(), ms);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = this.setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => (timer.cancel(), reject(signal.reason as Error)), { once: true });
    });
  }
}

/** Any LivenessWriter can be wrapped; this one reports when a node's record is first written. */
class ReportingLivenessWriter implements LivenessWriter {
  readonly inner: LivenessWriter;
  constructor(inner: LivenessWriter) {
    this.inner = inner;
  }
  async start(target: LivenessTarget, options?: LivenessWriterStartOptions): Promise<void> {
    await this.inner.start(target, options);
    if (target.node === VICTIMS[0]) say(`${target.node}: liveness record written every ${target.intervalMs} ms (incarnation ${target.incarnation})`);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

// The failure action: in a simulation a callback (a script needs real processes; see
// examples/ring-monitor.ts). It runs on the detecting node, exactly once per failed incarnation.
const handled: NodeId[] = [];
const failureAction: FailureActionOptions = {
  callback: (failure: NodeFailure) => {
    handled.push(failure.node);
  },
  timeoutMs: 5 * H,
};

function evidence(stage1: Stage1Evidence | undefined, stage2: Stage2Evidence): string {
  const record = (r: LivenessRecord | undefined): string => (r ? `beat ${r.beat}` : 'none');
  const verdict: LivenessVerdict = stage2.verdict;
  return `stage 1 ${stage1?.errors.join('+') ?? '(none)'} in ${stage1?.durationMs.toFixed(0)} ms; stage 2 ${verdict}: ${record(stage2.first)} → ${record(stage2.last)} for ${stage2.windowMs.toFixed(0)} ms`;
}

const processes = new Map<NodeId, SimulatedProcess>();
let reportRing = false; // print ring changes from the kill until the shutdown
const monitors = new Map<NodeId, RingMonitor>();
const log: { [E in keyof RingMonitorEvents]?: (...args: RingMonitorEvents[E]) => void } = {
  nodeFailed: (f: NodeFailure) =>
    say(`${f.detector} declared ${f.node} (incarnation ${f.incarnation}) failed, ${f.timings.totalMs.toFixed(0)} ms after its first missed heartbeat\n             ${evidence(f.stage1, f.stage2)}`),
  failureActionDone: (r: FailureActionResult) => {
    const callback: CallbackOutcome | undefined = r.callback;
    say(`${r.failure.detector}: failure action for ${r.failure.node} done (callback ${callback?.ok ? 'ok' : callback?.error})`);
  },
  unreachable: (r) => say(`${r.node} unreachable but alive (${r.stage2.verdict})`),
  degraded: (r) => say(`${r.node} alive but stalled`),
  fenced: (r) => say(`fenced: ${r.node} incarnation ${r.incarnation} is ${r.state}`),
};

for (let i = 0; i < N; i++) {
  const name = nodeId(`node-${String(i).padStart(2, '0')}`);
  const sim = new SimulatedProcess();
  const transport = network.transport(name);
  await transport.start();
  const writerOptions: ClockLivenessWriterOptions = { storage, clock: sim };
  const options: RingMonitorOptions = {
    transport,
    storage,
    livenessWriter: new ReportingLivenessWriter(new ClockLivenessWriter(writerOptions)),
    address: { host: `${name}.sim`, port: 7400 },
    heartbeatIntervalMs: H,
    failureAction,
    clock: sim,
    random: seededRandom(i),
  };
  const monitor = new RingMonitor(options);
  monitor.on('nodeFailed', log.nodeFailed!);
  monitor.on('failureActionDone', log.failureActionDone!);
  monitor.on('unreachable', log.unreachable!);
  monitor.on('degraded', log.degraded!);
  monitor.on('fenced', log.fenced!);
  monitor.on('ringChanged', (change: RingChange) => {
    if (reportRing) {
      say(`${name} now monitors ${change.monitors} and is monitored by ${change.monitoredBy} (generation ${change.generation})`);
    }
  });
  processes.set(name, sim);
  monitors.set(name, monitor);
}

/** Lets simulated time run until `promise` settles. */
async function runUntil<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  const settled = promise.finally(() => (done = true));
  while (!done) await clock.advance(H / 10);
  return settled;
}

// An observer outside the ring (an admin tool, a dashboard): a ClusterView that watches the
// configuration and reports every member whose state changes.
const viewOptions: ClusterViewOptions = { storage, clock };
const observer = new ClusterView(viewOptions);
observer.on('changed', (...[member]: ClusterViewEvents['changed']) => {
  const state: MemberState = member.state;
  if (state === 'failed') say(`observer: ${member.node} (${member.host}:${member.port}) is ${state}, declared by ${member.failedBy}`);
});
await runUntil(observer.start());

await runUntil(Promise.all([...monitors.values()].map((m) => m.start())));
await clock.advance(2 * H);
const states = new Set<RingMonitorState>([...monitors.values()].map((m) => m.state));
const before: ClusterConfig = await readClusterConfig(storage);
say(`${N} monitors ${[...states].join('/')}, generation ${before.generation}; ring of ${before.ring.size}: ${ringText(before.ring)}`);

say(`killing ${VICTIMS.join(' and ')} (their timers, liveness writers and network stop)`);
reportRing = true;
for (const victim of VICTIMS) {
  processes.get(victim)!.killed = true;
  network.kill(victim);
  monitors.get(victim)!.removeAllListeners(); // a dead process prints nothing
}
await clock.advance(10 * H);

const after = await readClusterConfig(storage);
const failed: Member[] = [...after.members.values()].filter((m) => m.state === 'failed');
say(`failed: ${failed.map((m) => `${m.node} (declared by ${m.failedBy})`).join(', ')}; failure actions ran for ${handled.join(', ')}`);
say(`ring re-closed, ${after.ring.size} nodes: ${ringText(after.ring)}`);
const derived = ringOf(after.members.values());
const same = [...derived].every(([a, b]) => after.ring.get(a) === b) && derived.size === after.ring.size;
const viewAgrees = [...after.ring].every(([a, b]) => monitors.get(a)!.view.monitors(a) === b && observer.monitors(a) === b);

reportRing = false;
for (const [name, monitor] of monitors) if (!VICTIMS.includes(name)) await runUntil(monitor.close());
await observer.close();
await storage.close();

const ok = failed.length === 2 && handled.length === 2 && after.ring.size === N - 2 && same && viewAgrees;
say(ok ? 'ok: both failures detected and handled exactly once, the ring closed around them' : 'UNEXPECTED OUTCOME');
if (!ok) process.exitCode = 1;

function ringText(ring: ReadonlyMap<NodeId, NodeId>): string {
  return [...ring].map(([a, b]) => `${a.slice(5)}→${b.slice(5)}`).join(' ');
}
