/**
 * Stage 1 of the failure check (SPEC U4): heartbeat requests over the transport.
 *
 * @module
 */
import type { Clock } from '../core/clock.js';
import { NonstopError } from '../core/errors.js';
import type { Incarnation, NodeId } from '../core/ids.js';
import type { Transport } from '../contracts/transport.js';

/** The message type of heartbeat requests. Payload `{ incarnation }` (expected), reply `{ incarnation }` (actual). */
export const HEARTBEAT_TYPE = 'ring.heartbeat';

/** What stage 1 saw when it could not rule out a failure. */
export interface Stage1Evidence {
  /** Heartbeat requests sent (1 + retries). */
  readonly attempts: number;
  /** The error code of each failed attempt (`ERR_TIMEOUT`, `ERR_UNREACHABLE`, `incarnation-mismatch` …). */
  readonly errors: readonly string[];
  /** Time from the first request to the last failure, on the observer's clock, in ms. */
  readonly durationMs: number;
}

/** Options of {@link probe}. */
export interface ProbeOptions {
  /** Time limit of one request, in ms. */
  readonly replyTimeoutMs: number;
  /** Further attempts after a failed one. */
  readonly retries: number;
  /** The observer's clock (for the evidence's duration). */
  readonly clock: Clock;
  /** Aborts the probe (resolves as failed). */
  readonly signal?: AbortSignal;
}

/**
 * Sends heartbeat requests to `target` until one is answered by the expected incarnation or the
 * attempts are used up. Resolves `undefined` if the target answered, else the evidence.
 */
export async function probe(
  transport: Transport,
  target: NodeId,
  incarnation: Incarnation,
  options: ProbeOptions,
): Promise<Stage1Evidence | undefined> {
  const started = options.clock.now();
  const errors: string[] = [];
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    if (options.signal?.aborted) break;
    try {
      const reply = await transport.request(target, HEARTBEAT_TYPE, { incarnation }, {
        timeoutMs: options.replyTimeoutMs,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const answered = typeof reply === 'object' && reply !== null && !Array.isArray(reply) ? (reply as { incarnation?: unknown }).incarnation : undefined;
      if (answered === incarnation) return undefined;
      errors.push('incarnation-mismatch');
    } catch (err) {
      errors.push(err instanceof NonstopError ? err.code : 'ERR_UNKNOWN');
    }
  }
  return { attempts: errors.length, errors, durationMs: options.clock.now() - started };
}

/** Answers heartbeat requests with this node's incarnation. Returns the function that stops answering. */
export function serveHeartbeats(transport: Transport, incarnation: Incarnation): () => void {
  return transport.handle(HEARTBEAT_TYPE, () => ({ incarnation }));
}
