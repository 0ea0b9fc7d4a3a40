/**
 * The short mutual-exclusion lock FileStorage committers take around "catch up, then link the
 * next log entry" (proper-lockfile).
 *
 * The lock only keeps committers from tripping over each other. It is never what makes a commit
 * safe: the atomic link of the next log index (`EEXIST` if someone else took it) is (DESIGN
 * rule 2; STYLE note 10). That is why a committer waits for the lock only a short, bounded time:
 * if the holder was killed or stopped while holding it, the others proceed without the lock
 * instead of stalling until it goes stale, and the link keeps them correct. A process stopped
 * while holding the lock can wake up and try to commit; it loses the link race and sees the newer
 * state.
 *
 * @module
 */
import lockfile from 'proper-lockfile';
import type { Clock } from '../../core/clock.js';
import { AbortedError, StorageUnavailableError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';

/** Options of {@link CommitLock}. */
export interface CommitLockOptions {
  /** The path proper-lockfile locks (need not exist). */
  readonly path: string;
  /** After how many ms without a refresh another process may take the lock over (≥ 2,000). */
  readonly staleMs: number;
  /** How long to wait for a busy lock before committing without it, in ms. */
  readonly waitMs: number;
  /** Debug logger. */
  readonly log: Logger;
  /** Times the waits between attempts. */
  readonly clock: Clock;
}

/** The outcome of {@link CommitLock.acquire}: the lock, or the decision to proceed without it. */
export interface HeldLock {
  /** `false` when the wait timed out and the commit proceeds without the lock. */
  readonly held: boolean;
  /** Releases the lock if held; never throws (a lock taken over after going stale is simply gone). */
  release(): Promise<void>;
}

const NOT_HELD: HeldLock = { held: false, release: async () => undefined };

/** See the module documentation. */
export class CommitLock {
  readonly #options: CommitLockOptions;
  /** Until this time on the clock, a busy lock is presumed stuck: try once, do not wait. */
  #presumedStuckUntil = Number.NEGATIVE_INFINITY;

  constructor(options: CommitLockOptions) {
    this.#options = options;
  }

  /** Takes the lock, waiting at most `waitMs`; rejects only if `signal` aborts or the lock path is unusable. */
  async acquire(signal: AbortSignal): Promise<HeldLock> {
    const { staleMs, waitMs, log, clock } = this.#options;
    const deadline = clock.now() + (clock.now() < this.#presumedStuckUntil ? 0 : waitMs);
    let delay = 1;
    for (;;) {
      if (signal.aborted) throw new AbortedError('FileStorage commit lock', { cause: signal.reason });
      const lock = await this.#tryLock();
      if (lock) {
        this.#presumedStuckUntil = Number.NEGATIVE_INFINITY;
        return lock;
      }
      if (clock.now() >= deadline) {
        if (clock.now() >= this.#presumedStuckUntil) {
          log('commit lock busy for %d ms: committing without it until it is free or stale', waitMs);
          this.#presumedStuckUntil = clock.now() + staleMs;
        }
        return NOT_HELD;
      }
      await clock.sleep(Math.min(delay, Math.max(0, deadline - clock.now())), signal);
      delay = Math.min(delay * 2, 10);
    }
  }

  async #tryLock(): Promise<HeldLock | undefined> {
    const { path, staleMs, log } = this.#options;
    try {
      const release = await lockfile.lock(path, {
        realpath: false,
        stale: staleMs,
        retries: 0,
        // The default handler throws inside a timer and kills the process (STYLE note 10).
        onCompromised: (err) => log('commit lock compromised (taken over after going stale): %s', err.message),
      });
      return {
        held: true,
        release: async () => {
          try {
            await release();
          } catch (err) {
            log('commit lock release failed (it was taken over): %s', (err as Error).message);
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED') return undefined;
      throw new StorageUnavailableError(`cannot take the FileStorage commit lock at ${path}`, { cause: err });
    }
  }
}
