/**
 * The ring monitor (SPEC U1–U5, B7).
 *
 * @module
 */
import { ConflictError, ClosedError, InvalidArgumentError, NonstopError, StorageUnavailableError } from '../core/errors.js';
import type { Timer } from '../core/clock.js';
import { EventEmitter } from '../core/events.js';
import type { Incarnation, NodeId } from '../core/ids.js';
import { logger } from '../core/log.js';
import type { CallOptions } from '../contracts/storage.js';
import { isDeadState, memberKey, type Member } from '../cluster/member.js';
import { updateCluster, type UpdateClusterOptions } from '../cluster/update.js';
import { ClusterView } from '../cluster/view.js';
import type { RingMonitorEvents, NodeFailure } from './events.js';
import { checkScript, runFailureAction } from './failure-action.js';
import { probe, serveHeartbeats, type Stage1Evidence } from './heartbeat.js';
import { checkLiveness, type Stage2Evidence } from './liveness-check.js';
import { resolveRingOptions, type ResolvedRingOptions, type RingMonitorOptions } from './options.js';

const log = logger('ring');

/** The lifecycle of a {@link RingMonitor}. */
export type RingMonitorState = 'new' | 'starting' | 'running' | 'fenced' | 'closing' | 'closed';

type Declaration =
  | { readonly kind: 'declared'; readonly member: Member }
  | { readonly kind: 'stale' }
  | { readonly kind: 'fenced'; readonly me: Member | undefined };

/**
 * Ring monitoring of the node applications of a cluster (SPEC U1–U5): every active node monitors
 * exactly one other, the next active member by name, with a two-stage check every H.
 *
 * - **Start** registers the node in the cluster configuration with a new incarnation (`joining`),
 *   starts its liveness writer and heartbeat handler, and makes it `active`: from then on it is
 *   in the ring. **Close** marks it `leaving`, then `left`; the ring re-closes around it.
 * - **Stage 1**: one heartbeat request per H to the monitored node, with a reply timeout and
 *   retries. **Stage 2**, only when stage 1 fails: the monitored node's liveness record is read
 *   until it moves (`unreachable` or `degraded`: alive) or stays unchanged for the liveness
 *   timeout on this node's clock (`dead`).
 * - **Failure**: declared by compare-and-set of the member record (`active` → `failed`, for that
 *   incarnation), so exactly one monitor wins even when two race; the winner emits `nodeFailed`
 *   and runs the failure action. The ring re-closes: the detector now monitors the failed node's
 *   successor.
 * - **Fencing**: a node that finds its own incarnation declared dead emits `fenced` and stops.
 * - **Self-guard**: a round whose timer ran late (this node stalled) is discarded.
 *
 * ```ts
 * const monitor = new RingMonitor({ transport, storage, livenessWriter, heartbeatIntervalMs: 500,
 *   failureAction: { script: '/usr/local/bin/on-node-failure' } });
 * monitor.on('nodeFailed', (f) => console.log(`${f.node} failed (detected by ${f.detector})`));
 * await monitor.start();
 * ```
 */
export class RingMonitor extends EventEmitter<RingMonitorEvents> {
  /** This node's logical name (the transport's `self`). */
  readonly node: NodeId;
  /** The live view of the cluster configuration this monitor keeps (readable by other components). */
  readonly view: ClusterView;
  readonly #o: ResolvedRingOptions;
  readonly #stop = new AbortController();
  #state: RingMonitorState = 'new';
  #starting: Promise<void> | undefined;
  #incarnation: Incarnation | undefined;
  #monitors: NodeId | undefined;
  #monitoredBy: NodeId | undefined;
  #roundTimer: Timer | undefined;
  #probing = false;
  #suspicion: { readonly node: NodeId; readonly controller: AbortController } | undefined;
  #stopServing: (() => void) | undefined;

  /** @throws {@link InvalidArgumentError} naming the first invalid option */
  constructor(options: RingMonitorOptions) {
    super();
    this.#o = resolveRingOptions(options);
    this.node = this.#o.transport.self;
    this.view = new ClusterView({ storage: this.#o.storage, clock: this.#o.clock });
    this.view.on('changed', (member) => this.#onChange(member));
    this.view.on('unavailable', (error) => this.emit('storageUnavailable', error));
  }

  /** Where the monitor is in its lifecycle. */
  get state(): RingMonitorState {
    return this.#state;
  }

  /** This node's incarnation, once registered. */
  get incarnation(): Incarnation | undefined {
    return this.#incarnation;
  }

  /** The node this node monitors now. */
  get monitoring(): NodeId | undefined {
    return this.#monitors;
  }

  /** The node that monitors this node now. */
  get monitoredBy(): NodeId | undefined {
    return this.#monitoredBy;
  }

  /**
   * Registers the node with a new incarnation and joins the ring.
   *
   * @throws {@link InvalidArgumentError} naming `failureAction.script` if it is not executable, or
   *   `transport.self` if a live incarnation of this node name is registered
   * @throws {@link ClosedError} if the monitor was started before; storage errors as they come
   */
  start(options: CallOptions = {}): Promise<void> {
    if (this.#state !== 'new') return this.#starting ?? Promise.reject(new ClosedError(`RingMonitor ${this.node}`));
    this.#state = 'starting';
    this.#starting = this.#start(options.signal).catch(async (err: unknown) => {
      await this.#shutdown();
      // A registration that never became active ends normally, so a later start need not wait for it.
      if (this.#incarnation !== undefined) await this.#setOwnState(['joining'], 'left').catch(() => undefined);
      this.#state = 'closed';
      throw err;
    });
    return this.#starting;
  }

  /** Leaves the ring normally (`leaving`, then `left`) and stops. Idempotent; never rejects. */
  async close(): Promise<void> {
    if (this.#state === 'new') this.#state = 'closed';
    if (this.#state === 'closed' || this.#state === 'closing') return;
    await this.#starting?.catch(() => undefined);
    if (this.#state === 'running') {
      this.#state = 'closing';
      this.#halt();
      try {
        await this.#setOwnState(['active', 'joining'], 'leaving');
        await this.#shutdown();
        await this.#setOwnState(['leaving'], 'left');
      } catch (err) {
        this.#storageError(err);
      }
    }
    await this.#shutdown();
    this.#state = 'closed';
  }

  /** Same as {@link RingMonitor.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #start(signal: AbortSignal | undefined): Promise<void> {
    const o = this.#o;
    await checkScript(o.failureAction);
    await this.view.start(signal ? { signal } : {});
    const incarnation = await this.#register(signal);
    this.#incarnation = incarnation;
    await o.livenessWriter.start(
      { node: this.node, incarnation, intervalMs: o.livenessIntervalMs },
      { ...(signal ? { signal } : {}), onError: (error) => this.#storageError(error) },
    );
    this.#stopServing = serveHeartbeats(o.transport, incarnation);
    if (!(await this.#setOwnState(['joining'], 'active', signal))) {
      throw new ConflictError(memberKey(this.node), undefined, `the registration of ${this.node} incarnation ${incarnation} was superseded`);
    }
    this.#state = 'running';
    log('%s joined with incarnation %d', this.node, incarnation);
    this.#updateRelations();
    this.#scheduleRound(o.clock.now() + o.heartbeatIntervalMs);
  }

  /** Registers a new incarnation (`joining`); replaces a dead previous one, refuses a live one. */
  async #register(signal: AbortSignal | undefined): Promise<Incarnation> {
    const o = this.#o;
    for (;;) {
      const { result } = await updateCluster<{ readonly member: Member } | { readonly previous: Member }>(
        o.storage,
        [this.node],
        (current) => {
          const previous = current.get(this.node);
          if (previous && !isDeadState(previous.state)) return { result: { previous } };
          const member: Member = {
            node: this.node,
            host: o.address.host,
            port: o.address.port,
            roles: o.roles,
            incarnation: ((previous?.incarnation ?? 0) + 1) as Incarnation,
            state: 'joining',
            generation: 0, // set by updateCluster
          };
          return { change: { put: [member] }, result: { member } };
        },
        this.#cas(signal),
      );
      if ('member' in result) return result.member.incarnation;
      // A previous incarnation is still registered as live: find out whether it is.
      const { previous } = result;
      const suspectedAt = o.clock.now();
      const stage2 = await checkLiveness(o.storage, this.node, previous.incarnation, this.#stage2Options(signal ? AbortSignal.any([signal, this.#stop.signal]) : this.#stop.signal));
      if (stage2.verdict !== 'dead') {
        throw new InvalidArgumentError(
          'transport.self',
          `node name ${JSON.stringify(this.node)} is in use by live incarnation ${previous.incarnation} (state ${previous.state})`,
        );
      }
      await this.#declare(previous.node, previous.incarnation, undefined, stage2, suspectedAt, signal);
    }
  }

  /** Moves this incarnation's own record from one of `from` to `to`; `false` if it was not in `from`. */
  async #setOwnState(from: readonly Member['state'][], to: Member['state'], signal?: AbortSignal): Promise<boolean> {
    const { result } = await updateCluster(
      this.#o.storage,
      [this.node],
      (current) => {
        const me = current.get(this.node);
        if (!me || me.incarnation !== this.#incarnation || !from.includes(me.state)) return { result: false };
        return { change: { put: [{ ...me, state: to }] }, result: true };
      },
      this.#cas(signal),
    );
    return result;
  }

  #scheduleRound(due: number): void {
    this.#roundTimer = this.#o.clock.setTimeout(() => this.#round(due), due - this.#o.clock.now());
  }

  #round(due: number): void {
    if (this.#state !== 'running') return;
    const { clock, heartbeatIntervalMs: h } = this.#o;
    const now = clock.now();
    const lateness = now - due;
    this.#scheduleRound(lateness > h ? now + h : due + h);
    if (lateness > this.#o.maxTimerLatenessMs) {
      log('%s: round ran %d ms late; discarded', this.node, lateness);
      this.emit('roundDiscarded', { phase: 'round', latenessMs: lateness });
      return;
    }
    void this.#check();
  }

  /** One round: stage 1, and stage 2 if stage 1 cannot rule out a failure. */
  async #check(): Promise<void> {
    const o = this.#o;
    const target = this.#monitors;
    const member = target === undefined ? undefined : this.view.member(target);
    if (target === undefined || member?.state !== 'active' || this.#probing) return;
    this.#probing = true;
    const suspectedAt = o.clock.now();
    let stage1: Stage1Evidence | undefined;
    try {
      stage1 = await probe(o.transport, target, member.incarnation, {
        replyTimeoutMs: o.replyTimeoutMs,
        retries: o.retries,
        clock: o.clock,
        signal: this.#stop.signal,
      });
    } finally {
      this.#probing = false;
    }
    if (this.#state !== 'running' || this.#monitors !== target) return;
    if (stage1 === undefined) {
      this.#suspicion?.controller.abort();
      return;
    }
    if (this.#suspicion) return; // stage 2 already under way
    const controller = new AbortController();
    this.#suspicion = { node: target, controller };
    const signal = AbortSignal.any([controller.signal, this.#stop.signal]);
    try {
      const stage2 = await checkLiveness(o.storage, target, member.incarnation, this.#stage2Options(signal));
      if (this.#state !== 'running' || signal.aborted) return;
      if (stage2.verdict === 'dead') await this.#declare(target, member.incarnation, stage1, stage2, suspectedAt);
      else this.emit(stage2.verdict, { node: target, incarnation: member.incarnation, stage1, stage2 });
    } catch (err) {
      if (!signal.aborted) this.#storageError(err);
    } finally {
      if (this.#suspicion?.controller === controller) this.#suspicion = undefined;
    }
  }

  #stage2Options(signal: AbortSignal): Parameters<typeof checkLiveness>[3] {
    const o = this.#o;
    const incarnation = this.#incarnation;
    return {
      ...(incarnation !== undefined ? { control: { node: this.node, incarnation } } : {}),
      clock: o.clock,
      intervalMs: o.livenessIntervalMs,
      timeoutMs: o.livenessTimeoutMs,
      maxLatenessMs: o.maxTimerLatenessMs,
      signal,
      onStorageError: (error) => this.#storageError(error),
      onLate: (latenessMs) => this.emit('roundDiscarded', { phase: 'stage2', latenessMs }),
    };
  }

  /**
   * Declares `target`'s `incarnation` failed by compare-and-set — only if this node is still an
   * active member (unless it is replacing its own dead incarnation) — and, if this call won, emits
   * `nodeFailed` and runs the failure action.
   */
  async #declare(
    target: NodeId,
    incarnation: Incarnation,
    stage1: Stage1Evidence | undefined,
    stage2: Stage2Evidence,
    suspectedAt: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const o = this.#o;
    const replacingSelf = target === this.node;
    const { result, generation } = await updateCluster<Declaration>(
      o.storage,
      replacingSelf ? [target] : [target, this.node],
      (current) => {
        const me = current.get(this.node);
        if (!replacingSelf && (me?.incarnation !== this.#incarnation || me?.state !== 'active')) return { result: { kind: 'fenced', me } };
        const member = current.get(target);
        const declarable = member !== undefined && member.incarnation === incarnation && (replacingSelf ? !isDeadState(member.state) : member.state === 'active');
        if (!declarable) return { result: { kind: 'stale' } };
        return { change: { put: [{ ...member, state: 'failed', failedBy: this.node }] }, result: { kind: 'declared', member } };
      },
      this.#cas(signal),
    );
    if (result.kind === 'fenced') {
      if (result.me) this.#fence(result.me);
      return;
    }
    if (result.kind === 'stale') return;
    const declaredAt = o.clock.now();
    const failure: NodeFailure = {
      node: target,
      incarnation,
      host: result.member.host,
      port: result.member.port,
      detector: this.node,
      generation,
      stage1,
      stage2,
      timings: { suspectedAt, declaredAt, totalMs: declaredAt - suspectedAt },
    };
    log('%s declared %s (incarnation %d) failed', this.node, target, incarnation);
    this.emit('nodeFailed', failure);
    if (o.failureAction) {
      void runFailureAction(o.failureAction, failure).then((done) => this.emit('failureActionDone', done));
    }
  }

  #onChange(member: Member): void {
    if (this.#state !== 'running') return;
    if (member.node === this.node && (member.incarnation !== this.#incarnation || isDeadState(member.state))) {
      this.#fence(member);
      return;
    }
    this.#updateRelations();
  }

  #updateRelations(): void {
    const monitors = this.view.monitors(this.node);
    const monitoredBy = this.view.monitoredBy(this.node);
    if (monitors === this.#monitors && monitoredBy === this.#monitoredBy) return;
    if (monitors !== this.#monitors) this.#suspicion?.controller.abort();
    this.#monitors = monitors;
    this.#monitoredBy = monitoredBy;
    this.emit('ringChanged', { monitors, monitoredBy, generation: this.view.generation });
  }

  #fence(member: Member): void {
    if (this.#state !== 'running') return;
    const incarnation = this.#incarnation!;
    this.#state = 'fenced';
    log('%s: incarnation %d is dead (%s); fenced', this.node, incarnation, member.state);
    this.#halt();
    void this.#shutdown();
    this.emit('fenced', {
      node: this.node,
      incarnation,
      state: member.incarnation === incarnation ? member.state : `superseded by incarnation ${member.incarnation}`,
      failedBy: member.incarnation === incarnation ? member.failedBy : undefined,
    });
  }

  /** Stops rounds and any check under way. */
  #halt(): void {
    this.#roundTimer?.cancel();
    this.#stop.abort(new ClosedError(`RingMonitor ${this.node}`));
  }

  /** Stops answering heartbeats, writing liveness and watching the configuration. */
  async #shutdown(): Promise<void> {
    this.#halt();
    this.#stopServing?.();
    this.#stopServing = undefined;
    await this.#o.livenessWriter.close().catch((err: unknown) => this.#storageError(err));
    await this.view.close();
  }

  #cas(signal: AbortSignal | undefined): UpdateClusterOptions {
    return { clock: this.#o.clock, random: this.#o.random, ...(signal ? { signal } : {}) };
  }

  #storageError(err: unknown): void {
    const error = err instanceof NonstopError ? err : new StorageUnavailableError('storage call failed', { cause: err });
    log('%s: %s', this.node, error.message);
    this.emit('storageUnavailable', error);
  }
}
