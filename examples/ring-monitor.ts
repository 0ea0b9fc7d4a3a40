/**
 * Ring monitoring with real processes: four node processes on this machine watch each other; one
 * is killed with SIGKILL, its monitor detects it in two stages, runs examples/failure-action.sh
 * and the ring closes around the gap.
 *
 * Run: `npx tsx examples/ring-monitor.ts` (add `DEBUG=nonstop:ring` to see the monitors think).
 *
 * The same file is the node program: `ring-monitor.ts node <name> <directory> <secret>`. Each
 * node's liveness worker thread opens its own storage through `examples/ring-storage.mjs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { clusterAddressResolver, nodeId, readClusterConfig, RingMonitor, WorkerLivenessWriter, type ClusterConfig } from 'nonstop';
import { FileStorage } from 'nonstop/storage/file';
import { TcpTransport } from 'nonstop/transport/tcp';

const H = 500; // heartbeat interval: one heartbeat request per H to the monitored node
const NAMES = ['alpha', 'beta', 'gamma', 'delta'];
const SCRIPT = fileURLToPath(new URL('./failure-action.sh', import.meta.url));

// The module the liveness worker thread loads to open its own storage (its `createStorage` makes the
// same FileStorage as `createStorage` here).
const STORAGE_MODULE = new URL('./ring-storage.mjs', import.meta.url).href;

/**
 * The storage every node opens: one shared directory. A process killed while it holds the commit
 * lock stalls every commit until the lock goes stale, so detection of that kill can wait
 * `lockStaleMs` (default 10 s; 2 s is the minimum).
 */
function createStorage(options: { directory: string }): FileStorage {
  return new FileStorage({ directory: options.directory, lockStaleMs: 2000 });
}

/** One node: storage, transport, ring monitor; prints its events as lines. */
async function runNode(name: string, directory: string, secret: string): Promise<void> {
  const self = nodeId(name);
  const storage = createStorage({ directory });
  await storage.start();
  const transport = new TcpTransport({ self, listen: { host: 'localhost', port: 0 }, resolve: clusterAddressResolver(storage), secret });
  await transport.start();
  const monitor = new RingMonitor({
    transport,
    storage,
    address: { host: 'localhost', port: transport.address!.port }, // a host name, not an IP (R8)
    livenessWriter: new WorkerLivenessWriter({ storageModule: STORAGE_MODULE, storageOptions: { directory } }),
    heartbeatIntervalMs: H,
    failureAction: { script: SCRIPT, args: [join(directory, '..', 'failures.log')], timeoutMs: 5000 },
  });
  monitor.on('ringChanged', (c) => console.log(`monitors ${c.monitors ?? 'nobody'}`));
  monitor.on('unreachable', (r) => console.log(`${r.node} is unreachable but alive`));
  monitor.on('degraded', (r) => console.log(`${r.node} is alive but its main thread is stalled`));
  monitor.on('nodeFailed', (f) =>
    console.log(
      `declared ${f.node} (incarnation ${f.incarnation}) failed: stage 1 ${f.stage1?.errors.join('+')}, ` +
        `stage 2 saw no change for ${Math.round(f.stage2.windowMs)} ms, ${Math.round(f.timings.totalMs)} ms after the first missed heartbeat`,
    ),
  );
  monitor.on('failureActionDone', (r) => console.log(`failure script exited ${r.script?.exitCode}: ${r.script?.stdout.trim()}`));
  monitor.on('fenced', () => console.log('my incarnation was declared dead: fenced'));
  await monitor.start();
  console.log(`ready (incarnation ${monitor.incarnation})`);
  process.on('SIGTERM', () => {
    void monitor
      .close()
      .then(() => transport.close())
      .then(() => storage.close())
      .then(() => process.exit(0));
  });
}

/** Starts the four node processes, kills one, shows the detection, stops the rest. */
async function demo(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'nonstop-ring-'));
  const directory = join(root, 'storage');
  const secret = randomBytes(32).toString('hex');
  const children = new Map<string, ChildProcess>();
  const ready: Promise<void>[] = [];
  for (const name of NAMES) {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'node', name, directory, secret], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.set(name, child);
    ready.push(
      new Promise<void>((resolve) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          console.log(`  [${name}] ${line}`);
          if (line.startsWith('ready')) resolve();
        });
      }),
    );
  }
  await Promise.all(ready);
  await sleep(2 * H);
  const config = await readConfig(directory);
  console.log(`\nring: ${[...config.ring].map(([a, b]) => `${a} → ${b}`).join(', ')}\n`);

  console.log('SIGKILL gamma\n');
  children.get('gamma')!.kill('SIGKILL');
  const log = join(root, 'failures.log');
  const deadline = Date.now() + 15_000;
  while (!existsSync(log) && Date.now() < deadline) await sleep(50);
  await sleep(H);
  if (existsSync(log)) console.log(`\nfailures.log: ${readFileSync(log, 'utf8').trim()}`);
  const after = await readConfig(directory);
  console.log(`gamma is ${after.members.get(nodeId('gamma'))?.state}; ring: ${[...after.ring].map(([a, b]) => `${a} → ${b}`).join(', ')}\n`);
  if (after.members.get(nodeId('gamma'))?.state !== 'failed' || after.ring.has(nodeId('gamma'))) process.exitCode = 1;

  for (const [name, child] of children) if (name !== 'gamma') child.kill('SIGTERM');
  await Promise.all([...children.values()].map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  rmSync(root, { recursive: true, force: true });
}

async function readConfig(directory: string): Promise<ClusterConfig> {
  const storage = createStorage({ directory });
  await storage.start();
  try {
    return await readClusterConfig(storage);
  } finally {
    await storage.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode, name, directory, secret] = process.argv.slice(2);
  if (mode === 'node') await runNode(name!, directory!, secret!);
  else await demo();
}
