/**
 * Failure actions (SPEC U5): what runs on the detecting node once a failure is declared — a
 * callback and/or an executable run without a shell.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { InvalidArgumentError, NonstopError } from '../core/errors.js';
import { describe } from '../core/ids.js';
import type { NodeFailure } from './events.js';

/** Options of the failure action. */
export interface FailureActionOptions {
  /** Called with the failure; its promise is awaited (bounded by `timeoutMs`). */
  readonly callback?: (failure: NodeFailure, context: { readonly signal: AbortSignal }) => void | Promise<void>;
  /**
   * Path of an executable run with `execFile` (no shell) and these environment variables added:
   * `NONSTOP_FAILED_NODE`, `NONSTOP_FAILED_HOST`, `NONSTOP_FAILED_PORT`,
   * `NONSTOP_FAILED_INCARNATION`, `NONSTOP_DETECTOR`, `NONSTOP_GENERATION`. Checked to exist and be
   * executable at `start()`.
   */
  readonly script?: string;
  /** Arguments of the script. */
  readonly args?: readonly string[];
  /** Time limit of the callback and of the script, in ms (default 30,000); the script is killed after it. */
  readonly timeoutMs?: number;
}

/** How the script ended. */
export interface ScriptOutcome {
  /** Its path. */
  readonly path: string;
  /** Exit code, `null` if it was killed by a signal or could not start. */
  readonly exitCode: number | null;
  /** The signal that ended it, if any. */
  readonly signal: string | null;
  /** `true` if it was killed for exceeding the time limit. */
  readonly timedOut: boolean;
  /** Its standard output (up to 64 KiB). */
  readonly stdout: string;
  /** Its standard error (up to 64 KiB). */
  readonly stderr: string;
  /** Why it could not run, if it could not. */
  readonly error?: string;
  /** Real time it ran, in ms. */
  readonly durationMs: number;
}

/** How the callback ended. */
export interface CallbackOutcome {
  /** `true` if it returned (or its promise resolved) within the time limit. */
  readonly ok: boolean;
  /** The error it threw, or the time-out. */
  readonly error?: string;
  /** Real time it ran, in ms. */
  readonly durationMs: number;
}

/** The outcome of a failure action (the `failureActionDone` event). */
export interface FailureActionResult {
  /** The failure that triggered it. */
  readonly failure: NodeFailure;
  /** The callback's outcome, if one is configured. */
  readonly callback?: CallbackOutcome;
  /** The script's outcome, if one is configured. */
  readonly script?: ScriptOutcome;
}

const OUTPUT_LIMIT = 64 * 1024;

/**
 * Validates the shape of failure-action options (synchronously, at construction).
 *
 * @throws {@link InvalidArgumentError} naming `failureAction.<field>`
 */
export function validateFailureAction(options: unknown): FailureActionOptions | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('failureAction', `must be an object (got ${describe(options)})`);
  const o = options as FailureActionOptions;
  if (o.callback !== undefined && typeof o.callback !== 'function') throw new InvalidArgumentError('failureAction.callback', 'must be a function');
  if (o.script !== undefined && (typeof o.script !== 'string' || o.script === '')) throw new InvalidArgumentError('failureAction.script', 'must be a non-empty path');
  if (o.args !== undefined && (!Array.isArray(o.args) || !o.args.every((a) => typeof a === 'string'))) {
    throw new InvalidArgumentError('failureAction.args', 'must be an array of strings');
  }
  if (o.timeoutMs !== undefined && (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0)) {
    throw new InvalidArgumentError('failureAction.timeoutMs', `must be a positive number (got ${describe(o.timeoutMs)})`);
  }
  return o;
}

/**
 * Checks that the script exists and is executable.
 *
 * @throws {@link InvalidArgumentError} naming `failureAction.script`
 */
export async function checkScript(options: FailureActionOptions | undefined): Promise<void> {
  if (options?.script === undefined) return;
  try {
    await access(options.script, constants.X_OK);
  } catch (err) {
    throw new InvalidArgumentError('failureAction.script', `${JSON.stringify(options.script)} is not an executable file`, { cause: err });
  }
}

/** Runs the callback and the script (concurrently) and reports how they ended. */
export async function runFailureAction(options: FailureActionOptions, failure: NodeFailure): Promise<FailureActionResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const [callback, script] = await Promise.all([
    options.callback ? runCallback(options.callback, failure, timeoutMs) : undefined,
    options.script !== undefined ? runScript(options.script, options.args ?? [], failure, timeoutMs) : undefined,
  ]);
  return { failure, ...(callback ? { callback } : {}), ...(script ? { script } : {}) };
}

async function runCallback(
  callback: NonNullable<FailureActionOptions['callback']>,
  failure: NodeFailure,
  timeoutMs: number,
): Promise<CallbackOutcome> {
  const started = performance.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(() => callback(failure, { signal: controller.signal })),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          controller.abort();
          reject(new Error(`timed out after ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
    return { ok: true, durationMs: performance.now() - started };
  } catch (err) {
    const message = err instanceof NonstopError || err instanceof Error ? err.message : String(err);
    return { ok: false, error: message, durationMs: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

function runScript(path: string, args: readonly string[], failure: NodeFailure, timeoutMs: number): Promise<ScriptOutcome> {
  const started = performance.now();
  const env = {
    ...process.env,
    NONSTOP_FAILED_NODE: failure.node,
    NONSTOP_FAILED_HOST: failure.host,
    NONSTOP_FAILED_PORT: String(failure.port),
    NONSTOP_FAILED_INCARNATION: String(failure.incarnation),
    NONSTOP_DETECTOR: failure.detector,
    NONSTOP_GENERATION: String(failure.generation),
  };
  return new Promise<ScriptOutcome>((resolve) => {
    execFile(path, [...args], { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * OUTPUT_LIMIT, encoding: 'utf8' }, (error, stdout, stderr) => {
      const e = error as (NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null; code?: unknown }) | null;
      const exitCode = e === null ? 0 : typeof e.code === 'number' ? e.code : null;
      resolve({
        path,
        exitCode,
        signal: e?.signal ?? null,
        timedOut: e?.killed === true && e.signal === 'SIGKILL',
        stdout: stdout.slice(0, OUTPUT_LIMIT),
        stderr: stderr.slice(0, OUTPUT_LIMIT),
        ...(e !== null && exitCode === null && !e.signal ? { error: e.message } : {}),
        durationMs: performance.now() - started,
      });
    });
  });
}
