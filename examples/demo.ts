/**
 * The nonstop demo on the embedded defaults: three node processes on loopback TCP, sharing one
 * FileStorage directory, watching each other in a ring.
 *
 * - Each node joins the cluster configuration in the shared storage with a RingMonitor: its
 *   logical name, a host *name* and port (SPEC R8); peers resolve it from there at every connect.
 * - The nodes exchange HMAC-authenticated requests around a ring.
 * - They all increment one shared counter by compare-and-set; the total comes out exact.
 * - A forged frame sent to a node is rejected with a typed error, and the node keeps running.
 * - One node is killed with SIGKILL: its monitor detects it in two stages (heartbeats, then its
 *   liveness record), runs examples/failure-action.sh, and the ring closes around the gap.
 * - The others stop with SIGTERM and leave the ring normally.
 *
 * Run: npm run demo (add DEBUG=nonstop:ring to see the monitors think)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  clusterAddressResolver,
  ConflictError,
  fromUtf8,
  nodeId,
  readClusterConfig,
  RingMonitor,
  utf8,
  WorkerLivenessWriter,
  type ClusterConfig,
  type DiscardedRound,
  type FencedReport,
  type LivenessReport,
  type NodeAddress,
  type NodeId,
  type ScriptOutcome,
  type WorkerLivenessWriterOptions,
} from 'nonstop';
import { FileStorage } from 'nonstop/storage/file';
import { TcpTransport } from 'nonstop/transport/tcp';

const NODES = ['node-a', 'node-b', 'node-c'] as const;
const VICTIM = nodeId('node-b'); // killed with SIGKILL; node-a monitors it
const ROUNDS = 5;
const H = 400; // heartbeat interval: one heartbeat per H to the monitored node
const DETECTION_DEADLINE_MS = 10_000;
const SCRIPT = fileURLToPath(new URL('./failure-action.sh', import.meta.url));
// The module each node's liveness worker thread loads to open its own storage (plain JavaScript:
// the worker runs the compiled library without a TypeScript loader).
const STORAGE_MODULE = new URL('./ring-storage.mjs', import.meta.url).href;

/** What a node process tells the parent over the IPC channel. */
type NodeReport =
  | { readonly type: 'done' }
  | { readonly type: 'nodeFailed'; readonly node: string }
  | { readonly type: 'failureActionDone'; readonly node: string; readonly exitCode: number | null };

/** The same storage in every process: a process killed while holding the commit lock stalls commits for `lockStaleMs`. */
function createStorage(directory: string): FileStorage {
  return new FileStorage({ directory, lockStaleMs: 2000 });
}

if (process.argv[2] === 'node') {
  await runNode(nodeId(process.argv[3]), process.argv[4]!, process.argv[5]!, process.argv[6]!);
} else {
  await runDemo();
}

/** The parent: starts three nodes, forges a frame, checks the counter, kills a node, checks the detection. */
async function runDemo(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'nonstop-demo-'));
  const directory = join(root, 'storage');
  const secret = randomBytes(32).toString('hex');
  console.log(`demo: shared storage in ${directory}`);
  const self = fileURLToPath(import.meta.url);
  const children = new Map<string, ChildProcess>();
  const watchdog = setTimeout(() => {
    console.log('demo: FAILED — timed out');
    for (const child of children.values()) child.kill('SIGKILL');
    process.exit(1);
  }, 60_000).unref();
  let failed = false;
  const check = (ok: boolean, what: string): void => {
    if (!ok) {
      failed = true;
      console.log(`demo: FAILED — ${what}`);
    }
  };
  const storage = createStorage(directory);
  try {
    const reports: (NodeReport & { readonly from: string; readonly at: number })[] = [];
    let reported: () => void = () => undefined;
    for (const name of NODES) {
      const child = fork(self, ['node', name, directory, secret, root], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
      child.stdout!.setEncoding('utf8').on('data', (text: string) => {
        for (const line of text.trimEnd().split('\n')) console.log(`${name.padEnd(7)}| ${line}`);
      });
      child.on('message', (report: NodeReport) => {
        reports.push({ ...report, from: name, at: performance.now() });
        reported();
      });
      children.set(name, child);
    }
    const until = async (test: () => boolean, ms: number): Promise<boolean> => {
      const deadline = performance.now() + ms;
      while (!test() && performance.now() < deadline) await new Promise<void>((resolve) => ((reported = resolve), setTimeout(resolve, 50)));
      return test();
    };

    // Once node-a is registered and listening, forge a frame to it: a length prefix and bytes with no valid MAC.
    await storage.start();
    const address = await waitForAddress(storage, nodeId('node-a'));
    await forgeFrame(address);

    // The counter, once every node has done its rounds.
    check(await until(() => reports.filter((r) => r.type === 'done').length === NODES.length, 30_000), 'not every node finished its rounds');
    const counter = await storage.get('demo/counter');
    const total = counter ? Number(fromUtf8(counter.value)) : 0;
    console.log(`demo: shared counter = ${total} (expected ${NODES.length * ROUNDS})`);
    check(total === NODES.length * ROUNDS, 'the shared counter is wrong');

    // The ring, as the configuration derives it: the active members sorted by name, each monitoring the next.
    const before = await readClusterConfig(storage);
    console.log(`demo: ring at generation ${before.generation}: ${ringText(before)}`);

    console.log(`demo: SIGKILL ${VICTIM}`);
    const killedAt = performance.now();
    children.get(VICTIM)!.kill('SIGKILL');
    const detected = await until(() => reports.some((r) => r.type === 'failureActionDone' && r.node === VICTIM), DETECTION_DEADLINE_MS);
    check(detected, `${VICTIM}'s failure was not handled within ${DETECTION_DEADLINE_MS} ms`);
    const declared = reports.find((r) => r.type === 'nodeFailed' && r.node === VICTIM);
    const done = reports.find((r) => r.type === 'failureActionDone' && r.node === VICTIM);
    if (declared) console.log(`demo: ${declared.from} declared ${VICTIM} failed ${((declared.at - killedAt) / 1000).toFixed(2)} s after the kill`);
    check(reports.filter((r) => r.type === 'nodeFailed').length === 1, 'not exactly one failure declared');
    check(done?.type === 'failureActionDone' && done.exitCode === 0, 'the failure script did not exit 0');
    if (detected) console.log(`demo: failures.log: ${readFileSync(join(root, 'failures.log'), 'utf8').trim()}`);
    const after = await readClusterConfig(storage);
    const reclosed = after.members.get(VICTIM)?.state === 'failed' && after.ring.size === NODES.length - 1 && !after.ring.has(VICTIM);
    console.log(`demo: ${VICTIM} is ${after.members.get(VICTIM)?.state}; ring${reclosed ? ' re-closed' : ''} at generation ${after.generation}: ${ringText(after)}`);
    check(reclosed, 'the ring did not re-close');

    console.log('demo: SIGTERM the others');
    const exits = [...children].map(([name, child]) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
        if (name !== VICTIM) child.kill('SIGTERM');
      }).then(() => [name, child.exitCode ?? child.signalCode] as const),
    );
    const codes = await Promise.all(exits);
    console.log(`demo: exits ${codes.map(([name, code]) => `${name} ${code}`).join(', ')}`);
    check(codes.every(([name, code]) => (name === VICTIM ? code === 'SIGKILL' : code === 0)), 'a node did not stop cleanly');
    const final = await readClusterConfig(storage);
    console.log(`demo: members ${[...final.members.values()].map((m) => `${m.node} ${m.state}`).join(', ')}`);
  } finally {
    clearTimeout(watchdog);
    await storage.close();
    rmSync(root, { recursive: true, force: true });
  }
  console.log(failed ? 'demo: FAILED' : 'demo: ok');
  if (failed) process.exitCode = 1;
}

/** One node process: transport, ring monitor, pings around the ring, counter rounds; then it stays until SIGTERM. */
async function runNode(self: NodeId, directory: string, secret: string, root: string): Promise<void> {
  const report = (message: NodeReport): void => void process.send!(message);
  const storage = createStorage(directory);
  await storage.start();
  const transport = new TcpTransport({
    self,
    listen: { host: '127.0.0.1', port: 0 },
    secret,
    // R8: peers are found by logical name; the address is read from the cluster configuration at every connect.
    resolve: clusterAddressResolver(storage),
  });
  transport.on('frameRejected', (error) => console.log(`rejected a frame: ${error.code} (${error.reason})`));
  let served = 0;
  transport.handle('demo.ping', (message) => {
    served++;
    return { pong: self, round: (message.payload as { round: number }).round };
  });
  await transport.start();

  const writerOptions: WorkerLivenessWriterOptions = { storageModule: STORAGE_MODULE, storageOptions: { directory } };
  const monitor = new RingMonitor({
    transport,
    storage,
    address: { host: 'localhost', port: transport.address!.port }, // a host name, not an IP (R8)
    livenessWriter: new WorkerLivenessWriter(writerOptions), // a worker thread: a busy main loop cannot stop it
    heartbeatIntervalMs: H,
    failureAction: { script: SCRIPT, args: [join(root, 'failures.log')], timeoutMs: 5000 },
  });
  monitor.on('ringChanged', (change) => console.log(`monitors ${change.monitors ?? 'nobody'}`));
  monitor.on('nodeFailed', (f) => {
    console.log(
      `nodeFailed: ${f.node} (incarnation ${f.incarnation} at ${f.host}:${f.port}); stage 1 ${f.stage1?.errors.join('+')}, ` +
        `stage 2 ${f.stage2.verdict}: no change for ${Math.round(f.stage2.windowMs)} ms; ${Math.round(f.timings.totalMs)} ms after the first missed heartbeat`,
    );
    report({ type: 'nodeFailed', node: f.node });
  });
  monitor.on('failureActionDone', (result) => {
    const script: ScriptOutcome | undefined = result.script;
    console.log(`failureActionDone: ${script?.path.split('/').pop()} exited ${script?.exitCode} after ${Math.round(script?.durationMs ?? 0)} ms: ${script?.stdout.trim()}`);
    report({ type: 'failureActionDone', node: result.failure.node, exitCode: script?.exitCode ?? null });
  });
  // Stage 2 found the monitored node alive: no failure is declared.
  const alive = (r: LivenessReport, what: string): void => console.log(`${r.node} ${what} (stage 1 ${r.stage1.errors.join('+')})`);
  monitor.on('unreachable', (r) => alive(r, 'is unreachable but alive'));
  monitor.on('degraded', (r) => alive(r, 'is alive but its main thread is stalled'));
  monitor.on('fenced', (r: FencedReport) => console.log(`fenced: my incarnation ${r.incarnation} is ${r.state}`));
  monitor.on('roundDiscarded', (r: DiscardedRound) => console.log(`my own ${r.phase} timer ran ${Math.round(r.latenessMs)} ms late; round discarded`));
  await monitor.start();
  console.log(`joined the ring as incarnation ${monitor.incarnation}, listening on localhost:${transport.address!.port}`);

  const next = nodeId(NODES[(NODES.indexOf(self as (typeof NODES)[number]) + 1) % NODES.length]);
  await waitForAddress(storage, next);
  for (let round = 1; round <= ROUNDS; round++) {
    const reply = await transport.request(next, 'demo.ping', { round }, { timeoutMs: 5000 });
    const total = await incrementCounter(storage);
    console.log(`round ${round}: ${next} answered ${JSON.stringify(reply)}; shared counter now ${total}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  report({ type: 'done' });

  process.once('SIGTERM', () => {
    void (async () => {
      await monitor.close(); // leaving, then left: the ring closes without declaring a failure
      console.log(`served ${served} requests; left the ring`);
      await transport.close();
      await storage.close();
      process.exit(0);
    })();
  });
}

/** Compare-and-set increment of the shared counter; retries when another node got there first. */
async function incrementCounter(storage: FileStorage): Promise<number> {
  for (;;) {
    const current = await storage.get('demo/counter');
    const next = (current ? Number(fromUtf8(current.value)) : 0) + 1;
    try {
      await storage.put('demo/counter', utf8(String(next)), { expect: current?.version ?? 'absent' });
      return next;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
}

/** Sends `node` a frame with a valid length prefix and no valid MAC. */
function forgeFrame(address: NodeAddress): Promise<void> {
  return new Promise<void>((resolve) => {
    const socket = connect(address.port, address.host, () => {
      const body = Buffer.from('{"forged":true}');
      const header = Buffer.alloc(4);
      header.writeUInt32BE(body.length);
      socket.end(Buffer.concat([header, body]));
    });
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
}

/** Waits until `node` is registered in the cluster configuration. */
async function waitForAddress(storage: FileStorage, node: NodeId): Promise<NodeAddress> {
  const resolve = clusterAddressResolver(storage);
  for (;;) {
    const address = await resolve(node);
    if (address) return address;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function ringText(config: ClusterConfig): string {
  return [...config.ring].map(([observer, monitored]) => `${observer} → ${monitored}`).join(', ');
}
