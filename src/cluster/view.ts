/**
 * A live, local view of the cluster configuration, kept current by watching storage.
 *
 * @module
 */
import { race } from '../core/abort.js';
import { systemClock, type Clock } from '../core/clock.js';
import { ClosedError, NonstopError, StorageCorruptError, StorageUnavailableError } from '../core/errors.js';
import { EventEmitter } from '../core/events.js';
import type { NodeId } from '../core/ids.js';
import { logger } from '../core/log.js';
import type { CallOptions, Storage, WatchEvent } from '../contracts/storage.js';
import { compareNames, ringOf, type ClusterConfig } from './config.js';
import { decodeMember, MEMBER_PREFIX, type Member } from './member.js';

const log = logger('cluster').extend('view');

/** Events of a {@link ClusterView}. */
export interface ClusterViewEvents {
  /** A member record was written (or seen for the first time). */
  changed: [member: Member, previous: Member | undefined];
  /** The watch failed; the view keeps its last state and watches again after a pause. */
  unavailable: [error: NonstopError];
  /** A record under `cluster/` failed validation and was ignored. */
  corrupt: [error: StorageCorruptError];
}

/** Options of {@link ClusterView}. */
export interface ClusterViewOptions {
  /** The shared storage holding the configuration. */
  readonly storage: Storage;
  /** Times the pause before watching again after a failed watch (default: system clock). */
  readonly clock?: Clock;
  /** That pause, in ms (default 100). */
  readonly retryDelayMs?: number;
}

/**
 * Watches `cluster/members/` and keeps every member record and the active ring in memory, updated
 * incrementally (O(log n) per change), so every component of a node can ask "whom do I monitor",
 * "where is node x", "is my incarnation still alive" without reading storage.
 *
 * ```ts
 * const view = new ClusterView({ storage });
 * await view.start();            // resolves once the current configuration is loaded
 * view.on('changed', (member) => console.log(member.node, member.state));
 * view.monitors(self);           // the node `self` monitors
 * ```
 */
export class ClusterView extends EventEmitter<ClusterViewEvents> {
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #retryDelayMs: number;
  readonly #members = new Map<NodeId, Member>();
  /** Names of the active members, sorted. */
  readonly #active: NodeId[] = [];
  readonly #closing = new AbortController();
  #generation = 0;
  #synced: Promise<void> | undefined;

  constructor(options: ClusterViewOptions) {
    super();
    this.#storage = options.storage;
    this.#clock = options.clock ?? systemClock;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
  }

  /**
   * Starts watching; resolves once the current configuration has been loaded. Idempotent.
   *
   * @throws {@link ClosedError} after {@link ClusterView.close}; `AbortedError` if `signal` aborts
   */
  start(options: CallOptions = {}): Promise<void> {
    if (this.#closing.signal.aborted) return Promise.reject(new ClosedError('ClusterView'));
    this.#synced ??= new Promise<void>((resolve) => void this.#run(resolve));
    return race(this.#synced, 'ClusterView.start', { signal: options.signal });
  }

  /** Stops watching. Idempotent. */
  async close(): Promise<void> {
    this.#closing.abort(new ClosedError('ClusterView'));
  }

  /** Same as {@link ClusterView.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The generation of the newest member record seen. */
  get generation(): number {
    return this.#generation;
  }

  /** The member record of `node`, if it ever registered. */
  member(node: NodeId): Member | undefined {
    return this.#members.get(node);
  }

  /** The node `node` monitors: the next active member by name (`undefined` if `node` is not active or alone). */
  monitors(node: NodeId): NodeId | undefined {
    const i = this.#indexOf(node);
    if (i < 0 || this.#active.length < 2) return undefined;
    return this.#active[(i + 1) % this.#active.length];
  }

  /** The node that monitors `node`: the previous active member by name. */
  monitoredBy(node: NodeId): NodeId | undefined {
    const i = this.#indexOf(node);
    if (i < 0 || this.#active.length < 2) return undefined;
    return this.#active[(i - 1 + this.#active.length) % this.#active.length];
  }

  /** A copy of the configuration as this view knows it. */
  snapshot(): ClusterConfig {
    const members = new Map(this.#members);
    return { generation: this.#generation, members, ring: ringOf(members.values()) };
  }

  async #run(synced: () => void): Promise<void> {
    const signal = this.#closing.signal;
    while (!signal.aborted) {
      try {
        for await (const event of this.#storage.watch(MEMBER_PREFIX, { signal })) {
          if (event.type === 'synced') synced();
          else this.#apply(event);
        }
      } catch (err) {
        if (signal.aborted) return;
        const error = err instanceof NonstopError ? err : new StorageUnavailableError('watch of the cluster configuration failed', { cause: err });
        log('watch failed: %s', error.message);
        this.emit('unavailable', error);
        await this.#clock.sleep(this.#retryDelayMs, signal).catch(() => undefined);
      }
    }
  }

  #apply(event: Exclude<WatchEvent, { type: 'synced' }>): void {
    if (event.type !== 'put') return; // member records are never deleted
    const key = event.record.key;
    try {
      const member = decodeMember(key, event.record.value);
      this.#generation = Math.max(this.#generation, member.generation);
      const previous = this.#members.get(member.node);
      this.#members.set(member.node, member);
      const wasActive = previous?.state === 'active';
      const isActive = member.state === 'active';
      if (wasActive && !isActive) this.#active.splice(this.#indexOf(member.node), 1);
      if (!wasActive && isActive) this.#active.splice(this.#insertionPoint(member.node), 0, member.node);
      this.emit('changed', member, previous);
    } catch (err) {
      if (!(err instanceof StorageCorruptError)) throw err;
      log('ignored %s: %s', key, err.message);
      this.emit('corrupt', err);
    }
  }

  #insertionPoint(node: NodeId): number {
    let lo = 0;
    let hi = this.#active.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareNames(this.#active[mid]!, node) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #indexOf(node: NodeId): number {
    const i = this.#insertionPoint(node);
    return this.#active[i] === node ? i : -1;
  }
}
