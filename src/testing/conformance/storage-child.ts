/**
 * The child process of the multi-process storage conformance cases. Not a public module: the
 * suite starts it with one JSON argument naming the adapter factory module, the shared location
 * and the scenario. It reports on standard output, one line per event, written synchronously so
 * that a line printed before a SIGKILL is never lost.
 *
 * @module
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { NonstopError } from '../../core/errors.js';
import { fromUtf8, utf8 } from '../../core/codec.js';
import type { JsonValue } from '../../core/json.js';
import { printLine } from './child-process.js';
import type { StorageProcessFactory } from './storage.js';

interface Argument {
  readonly module: string;
  readonly location: JsonValue;
  readonly scenario: 'increment' | 'append' | 'zombie';
  readonly params: Record<string, JsonValue>;
}

const arg = JSON.parse(process.argv[2] ?? '{}') as Argument;
const say = printLine;

let pauseNow: (() => void) | undefined;
const factory = (await import(pathToFileURL(arg.module).href)) as { createStorage: StorageProcessFactory };
const storage = await factory.createStorage(arg.location, {
  beforeCommit: () => {
    const hook = pauseNow;
    pauseNow = undefined;
    hook?.();
  },
});
await storage.start();
say('ready');

switch (arg.scenario) {
  case 'increment': {
    const key = String(arg.params['key']);
    let conflicts = 0;
    for (let done = 0; done < Number(arg.params['times']); ) {
      const current = await storage.get(key);
      const next = (current ? Number(fromUtf8(current.value)) : 0) + 1;
      try {
        await storage.put(key, utf8(String(next)), { expect: current?.version ?? 'absent' });
        done++;
      } catch (err) {
        if (!(err instanceof NonstopError && err.code === 'ERR_CONFLICT')) throw err;
        conflicts++;
      }
    }
    say(`done ${conflicts}`);
    break;
  }
  case 'append': {
    // Appends numbered records with several in flight, printing each acknowledged offset, until killed.
    const stream = String(arg.params['stream']);
    const concurrency = Number(arg.params['concurrency']);
    let seq = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const n = seq++;
        const { first } = await storage.append(stream, [appendRecord(n)]);
        say(`ack ${n} ${first}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    break;
  }
  case 'zombie': {
    // Fenced writes under an epoch; the write number `pauseAt` blocks inside the adapter's
    // critical section (announced through a marker file) so the parent can SIGSTOP us there.
    const fence = { key: String(arg.params['fenceKey']), epoch: Number(arg.params['epoch']) };
    const pauseAt = Number(arg.params['pauseAt']);
    const marker = String(arg.params['marker']);
    const attemptsAfterFence = 5;
    let fencedSince: number | undefined;
    for (let i = 0; fencedSince === undefined || i < fencedSince + attemptsAfterFence; i++) {
      if (i === pauseAt) {
        pauseNow = () => {
          writeFileSync(marker, 'in critical section');
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(arg.params['blockMs']));
        };
        if (arg.params['hooks'] === false) writeFileSync(marker, 'about to write');
      }
      try {
        await storage.put(`${String(arg.params['prefix'])}${i}`, utf8(String(i)), { fence });
        say(`ack ${i}`);
      } catch (err) {
        const code = err instanceof NonstopError ? err.code : `unexpected ${String(err)}`;
        say(`fail ${i} ${code}`);
        fencedSince ??= i;
      }
    }
    say('finished');
    break;
  }
}
await storage.close();
process.exit(0);

/** The bytes of append-scenario record `n`: self-describing, so the parent can check it. */
function appendRecord(n: number): Uint8Array {
  return utf8(JSON.stringify({ n, pad: 'x'.repeat(n % 200) }));
}
