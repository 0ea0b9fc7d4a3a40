/**
 * Starting conformance-suite child processes: a TypeScript child runs under `tsx`, a compiled
 * one under plain Node.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A started child process and the lines it has printed so far. */
export interface ChildHandle {
  /** The process. */
  readonly process: ChildProcess;
  /** Every complete line of standard output so far. */
  readonly lines: string[];
  /** Resolves with the exit code (or the signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /**
   * Resolves with the first line, at index `from` (default 0) or later, that satisfies `test`.
   * Rejects when the child exits first, or after `timeoutMs` if given.
   */
  waitForLine(test: (line: string) => boolean, options?: WaitForLineOptions): Promise<string>;
}

/** Options of {@link ChildHandle.waitForLine}. */
export interface WaitForLineOptions {
  /** Only lines at this index of `lines` or later count (e.g. `lines.length` before an action). */
  readonly from?: number;
  /** Reject after this many milliseconds of real time. */
  readonly timeoutMs?: number;
}

/**
 * Runs the sibling script `name` (without extension) of the module at `moduleUrl`, passing
 * `argument` as JSON in argv.
 */
export function startChild(moduleUrl: string, name: string, argument: unknown): ChildHandle {
  const typescript = moduleUrl.endsWith('.ts');
  const script = fileURLToPath(new URL(`./${name}${typescript ? '.ts' : '.js'}`, moduleUrl));
  const child = spawn(process.execPath, [...(typescript ? ['--import', 'tsx'] : []), script, JSON.stringify(argument)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.test(line)) waiters.splice(i, 1)[0]!.resolve(line);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return {
    process: child,
    lines,
    exited,
    waitForLine: (test, options = {}) =>
      new Promise<string>((resolve, reject) => {
        const found = lines.slice(options.from ?? 0).find(test);
        if (found !== undefined) {
          resolve(found);
          return;
        }
        const timer =
          options.timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                waiters.splice(waiters.indexOf(waiter), 1);
                reject(new Error(`child ${name}: no matching line within ${options.timeoutMs} ms; lines:\n${lines.join('\n')}`));
              }, options.timeoutMs);
        const waiter = {
          test,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        waiters.push(waiter);
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`child ${name} exited (${code}) before printing the awaited line; stderr:\n${stderr}`));
        });
      }),
  };
}

/**
 * Prints one line on standard output synchronously, so that a line printed before a SIGKILL is
 * never lost. Used by child processes; waits and retries while a non-blocking pipe is full
 * (`EAGAIN`) instead of failing.
 */
export function printLine(line: string): void {
  let bytes = Buffer.from(`${line}\n`);
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeSync(1, bytes));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
