/**
 * The short mutual-exclusion lock FileStorage committers take around "catch up, then link the
 * next log entry" (proper-lockfile).
 *
 * The lock only keeps committers from tripping over each other. It is never what makes a commit
 * safe: a committer whose lock went stale (SIGSTOP, a long GC pause) and was taken over can still
 * wake up and try to commit, and the atomic link of the next log index (`EEXIST` if someone else
 * took it) is what stops it (DESIGN rule 2; STYLE note 10).
 *
 * @module
 */
import lockfile from 'proper-lockfile';
import { AbortedError, StorageUnavailableError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';

/** Options of {@link CommitLock}. */
export interface CommitLockOptions {
  /** The path proper-lockfile locks (need not exist). */
  readonly path: string;
  /** After how many ms without a refresh another process may take the lock over (≥ 2,000). */
  readonly staleMs: number;
  /** Debug logger. */
  readonly log: Logger;
  /** Times the waits between attempts. */
  readonly clock: Clock;
}

/** A lock held until `release` is called. */
export interface HeldLock {
  /** `true` once proper-lockfile noticed that another process took the lock over. */
  readonly compromised: boolean;
  /** Releases the lock; never throws (a compromised lock is simply gone). */
  release(): Promise<void>;
}

/** See the module documentation. */
export class CommitLock {
  readonly #options: CommitLockOptions;

  constructor(options: CommitLockOptions) {
    this.#options = options;
  }

  /** Waits for the lock until `signal` aborts. */
  async acquire(signal: AbortSignal): Promise<HeldLock> {
    const { path, staleMs, log } = this.#options;
    let delay = 1;
    for (;;) {
      if (signal.aborted) throw new AbortedError('FileStorage commit lock', { cause: signal.reason });
      const state = { compromised: false };
      try {
        const release = await lockfile.lock(path, {
          realpath: false,
          stale: staleMs,
          retries: 0,
          // The default handler throws inside a timer and kills the process (STYLE note 10).
          onCompromised: (err) => {
            state.compromised = true;
            log('commit lock compromised (taken over after going stale): %s', err.message);
          },
        });
        return {
          get compromised() {
            return state.compromised;
          },
          release: async () => {
            try {
              await release();
            } catch (err) {
              log('commit lock release failed (it was taken over): %s', (err as Error).message);
            }
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
          throw new StorageUnavailableError(`cannot take the FileStorage commit lock at ${path}`, { cause: err });
        }
      }
      await this.#options.clock.sleep(delay, signal);
      delay = Math.min(delay * 2, 25);
    }
  }
}
