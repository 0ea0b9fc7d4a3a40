/**
 * One active transaction manager per cluster (SPEC T2, T4): every node that may host the manager
 * runs a candidate. The active one holds an epoch taken with `raiseFence` and renews its lease
 * record by compare-and-set; the others judge the lease on their own clock, by seeing the record
 * not change for longer than the lease (DESIGN rule 1), and then take over — raising the fence
 * and writing the lease record in one atomic storage transaction.
 *
 * @module
 */
import type { Clock, Timer } from '../core/clock.js';
import { decodeJson, encodeJson } from '../core/codec.js';
import { ConflictError } from '../core/errors.js';
import { EventEmitter } from '../core/events.js';
import type { Epoch, NodeId } from '../core/ids.js';
import type { Logger } from '../core/log.js';
import type { Storage, StoredRecord } from '../contracts/storage.js';
import { raiseFence, readFence } from '../storage/fence.js';

/** The lease record's content. */
export interface ActiveRecord {
  /** The node of the active manager (a logical name; the transport resolves it). */
  readonly node: NodeId;
  /** Its epoch. */
  readonly epoch: Epoch;
  /** Renewal counter (changes with every renewal). */
  readonly beat: number;
}

/** Parses a lease record; `undefined` if it is malformed. */
export function parseActiveRecord(record: StoredRecord | undefined): ActiveRecord | undefined {
  if (!record) return undefined;
  try {
    const v = decodeJson(record.value, 'tx active record') as Partial<ActiveRecord>;
    if (typeof v.node === 'string' && Number.isSafeInteger(v.epoch) && Number.isSafeInteger(v.beat)) return v as ActiveRecord;
  } catch {
    // treated as absent-but-present: a candidate overwrites it on takeover
  }
  return undefined;
}

/** Events of {@link TmElection}. */
export interface TmElectionEvents {
  /** This candidate took over with `epoch`. */
  elected: [epoch: Epoch];
  /** This candidate lost the epoch (superseded, or it could not renew its lease in time). */
  lost: [epoch: Epoch, reason: string];
}

/** Settings of {@link TmElection}. */
export interface TmElectionOptions {
  /** This node. */
  readonly node: NodeId;
  /** The shared storage. */
  readonly storage: Storage;
  /** The clock of every timer. */
  readonly clock: Clock;
  /** The lease record's key. */
  readonly activeKey: string;
  /** The fence record's key. */
  readonly fenceKey: string;
  /** The lease, in ms. */
  readonly leaseMs: number;
  /** The debug logger. */
  readonly log: Logger;
}

/** A candidate for the active transaction manager; see the module documentation. */
export class TmElection extends EventEmitter<TmElectionEvents> {
  readonly #o: TmElectionOptions;
  #timer: Timer | undefined;
  #running = false;
  #ticking: Promise<void> | undefined;
  /** While active: the epoch and the version of our lease record. */
  #mine: { epoch: Epoch; version: number; beat: number; renewedAt: number } | undefined;
  /** While following: the record version last seen and when (on our clock) it was first seen. */
  #seen: { version: number; at: number } | undefined;
  #takeoverNow = false;

  /** @param options - see {@link TmElectionOptions} */
  constructor(options: TmElectionOptions) {
    super();
    this.#o = options;
  }

  /** The epoch held, if this candidate is active. */
  get epoch(): Epoch | undefined {
    return this.#mine?.epoch;
  }

  /** Starts watching (and renewing). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  /** Stops; an active candidate stops renewing (its lease runs out; the fence protects the rest). */
  async stop(): Promise<void> {
    this.#running = false;
    this.#timer?.cancel();
    await this.#ticking;
    if (this.#mine) this.#lose('stopped');
  }

  /**
   * Another component (e.g. a ring monitor) declared `node` failed: if it holds the lease, take
   * over at the next step without waiting for the lease to run out.
   */
  nodeFailed(node: NodeId): void {
    if (node === this.#o.node) return;
    this.#takeoverNow = true;
    this.#failed = node;
    this.#schedule(0);
  }

  #failed: NodeId | undefined;

  #schedule(ms: number): void {
    if (!this.#running) return;
    this.#timer?.cancel();
    this.#timer = this.#o.clock.setTimeout(() => {
      if (this.#ticking) return this.#schedule(ms);
      this.#ticking = this.#tick()
        .catch((err: unknown) => this.#o.log('election step failed: %s', err))
        .finally(() => {
          this.#ticking = undefined;
          this.#schedule(this.#o.leaseMs / 3);
        });
    }, ms);
  }

  async #tick(): Promise<void> {
    const { storage, clock, activeKey, leaseMs } = this.#o;
    const mine = this.#mine;
    if (mine) {
      let ok = false;
      try {
        const rec = await storage.get(activeKey);
        if (rec?.version !== mine.version) return this.#lose('superseded');
        const beat = mine.beat + 1;
        const value = encodeJson({ node: this.#o.node, epoch: mine.epoch, beat });
        const version = await storage.put(activeKey, value, { expect: mine.version });
        if (this.#mine === mine) Object.assign(mine, { version, beat, renewedAt: clock.now() });
        ok = true;
      } catch (err) {
        if (err instanceof ConflictError) return this.#lose('superseded');
        this.#o.log('lease renewal failed: %s', err);
      }
      if (!ok && clock.now() - mine.renewedAt > leaseMs) this.#lose('lease expired: storage unreachable');
      return;
    }
    const rec = await storage.get(activeKey);
    const active = parseActiveRecord(rec);
    const now = clock.now();
    if (rec && active && active.node !== this.#o.node) {
      const failed = this.#takeoverNow && this.#failed === active.node;
      this.#takeoverNow = false;
      if (this.#seen?.version !== rec.version) {
        this.#seen = { version: rec.version, at: now };
        if (!failed) return;
      } else if (!failed && now - this.#seen.at < leaseMs) {
        return;
      }
    }
    // Absent, malformed, our own node's previous incarnation, expired, or declared failed: take over.
    try {
      const held = await readFence(storage, this.#o.fenceKey);
      const next = ((held ?? 0) + 1) as Epoch;
      const raised = await raiseFence(storage, this.#o.fenceKey, {
        from: held ?? 'absent',
        with: [{ op: 'put', key: activeKey, value: encodeJson({ node: this.#o.node, epoch: next, beat: 0 }), expect: rec?.version ?? 'absent' }],
      });
      const version = raised.version; // one transaction: the lease record has the same version
      this.#mine = { epoch: raised.epoch, version, beat: 0, renewedAt: clock.now() };
      this.#seen = undefined;
      this.#o.log('%s elected with epoch %d', this.#o.node, raised.epoch);
      this.emit('elected', raised.epoch);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      this.#seen = undefined; // someone else won; watch the new record
    }
  }

  #lose(reason: string): void {
    const mine = this.#mine;
    if (!mine) return;
    this.#mine = undefined;
    this.#o.log('%s lost epoch %d: %s', this.#o.node, mine.epoch, reason);
    this.emit('lost', mine.epoch, reason);
  }
}
