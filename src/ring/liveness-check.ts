/**
 * Stage 2 of the failure check (SPEC U4): watching the monitored node's liveness record change,
 * judged only on the observer's own clock (DESIGN rule 1).
 *
 * @module
 */
import type { Clock } from '../core/clock.js';
import { NonstopError, StorageUnavailableError } from '../core/errors.js';
import type { Incarnation, NodeId } from '../core/ids.js';
import type { Storage } from '../contracts/storage.js';
import { decodeLiveness, livenessKey, type LivenessRecord } from './liveness-record.js';

/**
 * The verdict of stage 2:
 *
 * - `unreachable`: the node's writer and main loop both advance — it lives, the link failed;
 * - `degraded`: its writer advances but its main loop does not — it lives, but is stalled or busy;
 * - `dead`: its record did not change for the whole liveness timeout.
 */
export type LivenessVerdict = 'unreachable' | 'degraded' | 'dead';

/** What stage 2 saw. */
export interface Stage2Evidence {
  /** The verdict. */
  readonly verdict: LivenessVerdict;
  /** Successful reads of the liveness record. */
  readonly reads: number;
  /** Failed reads (storage unavailable or corrupt record). */
  readonly failedReads: number;
  /** Time between the first and last read that the verdict rests on, on the observer's clock, in ms. */
  readonly windowMs: number;
  /** The record at the start of that window (`undefined`: absent). */
  readonly first: LivenessRecord | undefined;
  /** The record at its end. */
  readonly last: LivenessRecord | undefined;
}

/** Options of {@link checkLiveness}. */
export interface CheckLivenessOptions {
  /** The observer's clock. */
  readonly clock: Clock;
  /** Time between reads, in ms (the writer's interval). */
  readonly intervalMs: number;
  /** How long the record must stay unchanged for `dead`, in ms. */
  readonly timeoutMs: number;
  /** A wait that ends later than this restarts the window (the observer itself stalled). */
  readonly maxLatenessMs: number;
  /** Aborts the check (it then rejects with the signal's reason). */
  readonly signal: AbortSignal;
  /** Called when a read fails; the check keeps trying. */
  readonly onStorageError: (error: NonstopError) => void;
  /** Called when the observer's own timer ran late and the window was restarted. */
  readonly onLate: (latenessMs: number) => void;
  /**
   * The observer's own liveness record, as a control: `dead` also needs it to have moved during
   * the window — if it did not, storage writes are stalled (e.g. a lock held by a killed process)
   * and nobody's record could move, so the window starts over.
   */
  readonly control?: { readonly node: NodeId; readonly incarnation: Incarnation };
}

/**
 * Reads `node`'s liveness record now and every `intervalMs` until it can judge: as soon as both
 * `beat` and `main` of the expected incarnation moved → `unreachable`; after `timeoutMs` of the
 * observer's clock with `beat` moved but not `main` → `degraded`; with nothing moved (while the
 * observer's own record, the `control`, did move) → `dead`. A failed read is no evidence: `dead`
 * needs two successful reads at least `timeoutMs` apart.
 */
export async function checkLiveness(
  storage: Storage,
  node: NodeId,
  incarnation: Incarnation,
  options: CheckLivenessOptions,
): Promise<Stage2Evidence> {
  const { clock, signal, control } = options;
  const key = livenessKey(node);
  const read = async (k: string): Promise<LivenessRecord | undefined> => {
    const stored = await storage.get(k, { signal });
    return stored === undefined ? undefined : decodeLiveness(k, stored.value);
  };
  let base: { record: LivenessRecord | undefined; own: LivenessRecord | undefined; at: number } | undefined;
  let beatMoved = false;
  let reads = 0;
  let failedReads = 0;
  for (;;) {
    let record: LivenessRecord | undefined;
    let own: LivenessRecord | undefined;
    let ok = true;
    try {
      [record, own] = await Promise.all([read(key), control ? read(livenessKey(control.node)) : undefined]);
      reads++;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      ok = false;
      failedReads++;
      options.onStorageError(err instanceof NonstopError ? err : new StorageUnavailableError(`cannot read ${key}`, { cause: err }));
    }
    const now = clock.now();
    if (ok) {
      if (base === undefined || (base.record === undefined && record?.incarnation === incarnation)) base = { record, own, at: now };
      else {
        const from = base.record;
        const moved = from !== undefined && record !== undefined && record.incarnation === incarnation && from.incarnation === incarnation;
        if (moved && record!.beat !== from.beat) beatMoved = true;
        const evidence = (verdict: LivenessVerdict): Stage2Evidence => ({ verdict, reads, failedReads, windowMs: now - base!.at, first: from, last: record });
        if (moved && beatMoved && record!.main !== from.main) return evidence('unreachable');
        if (now - base.at >= options.timeoutMs) {
          if (beatMoved) return evidence('degraded');
          const ownMoved = control === undefined || (own !== undefined && own.incarnation === control.incarnation && own.beat !== base.own?.beat);
          if (ownMoved) return evidence('dead');
          options.onStorageError(new StorageUnavailableError(`liveness records (also ${control!.node}'s own) did not change for ${Math.round(now - base.at)} ms: storage writes are stalled`));
          base = { record, own, at: now };
        }
      }
    }
    const due = clock.now() + options.intervalMs;
    await clock.sleep(options.intervalMs, signal);
    const lateness = clock.now() - due;
    if (lateness > options.maxLatenessMs) {
      options.onLate(lateness);
      base = undefined;
      beatMoved = false;
    }
  }
}
