/**
 * Where resource managers live: each node's {@link ResourceHost} holds its local RMs, registers
 * them in shared storage (so every transaction manager, also a new one after a failover, can find
 * them and run recovery — SPEC T6) and serves the manager's calls to them over the transport.
 * The manager calls an RM by its {@link ResourceRef} (node + name): directly if it is local, by a
 * `tx.rm` request otherwise.
 *
 * @module
 */
import { race } from '../core/abort.js';
import { systemClock, type Clock } from '../core/clock.js';
import { encodeJson } from '../core/codec.js';
import { InvalidArgumentError, NonstopError, RemoteError } from '../core/errors.js';
import { epoch as toEpoch, isNodeId, type Epoch, type NodeId } from '../core/ids.js';
import type { JsonValue } from '../core/json.js';
import type { Storage } from '../contracts/storage.js';
import type { IncomingMessage, Transport } from '../contracts/transport.js';
import { txErrorFromCode } from './errors.js';
import { RM_NAME_PATTERN, type ResourceManager, type ResourceRef } from './resource-manager.js';
import { txId, type TxId } from './tx-id.js';

/** The operations a manager invokes on a resource manager. */
export type RmOp = 'prepare' | 'commit' | 'commitOnePhase' | 'rollback' | 'recover' | 'forget';

const OPS: readonly RmOp[] = ['prepare', 'commit', 'commitOnePhase', 'rollback', 'recover', 'forget'];

/** The answer for one transaction of a batched call. */
export type RmReply =
  | {
      /** The call succeeded. */
      readonly ok: true;
      /** Its answer (a vote, a branch result, or the in-doubt branches). */
      readonly value: JsonValue;
    }
  | {
      /** The call failed. */
      readonly ok: false;
      /** Why. */
      readonly error: NonstopError;
    };

/** Options of {@link ResourceHost}. */
export interface ResourceHostOptions {
  /** This node's transport. */
  readonly transport: Transport;
  /** The shared storage (for the RM registry). */
  readonly storage: Storage;
  /** The clock of local-call time limits (default: the system clock). */
  readonly clock?: Clock;
  /** The key prefix of the transaction records (default `tx`). */
  readonly prefix?: string;
}

/** The message type of manager → resource-manager calls. */
export const RM_MESSAGE = 'tx.rm';

/** The resource managers of one node; see the module documentation. */
export class ResourceHost {
  readonly #o: ResourceHostOptions;
  readonly #prefix: string;
  readonly #clock: Clock;
  readonly #rms = new Map<string, ResourceManager>();
  #unhandle: (() => void) | undefined;

  /** @throws {@link InvalidArgumentError} naming an invalid option */
  constructor(options: ResourceHostOptions) {
    if (typeof options?.transport?.request !== 'function') throw new InvalidArgumentError('transport', 'must be a Transport');
    if (typeof options.storage?.get !== 'function') throw new InvalidArgumentError('storage', 'must be a Storage');
    if (options.clock !== undefined && typeof options.clock.setTimeout !== 'function') throw new InvalidArgumentError('clock', 'must be a Clock');
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#prefix = options.prefix ?? 'tx';
  }

  /** This node. */
  get node(): NodeId {
    return this.#o.transport.self;
  }

  /** The registry key prefix: `<prefix>/rm/`. */
  get registryPrefix(): string {
    return `${this.#prefix}/rm/`;
  }

  /**
   * Adds a local resource manager, registers it in storage (once), and serves calls to it.
   *
   * @throws {@link InvalidArgumentError} naming `rm` if its name is invalid or taken
   */
  async add(rm: ResourceManager): Promise<ResourceRef> {
    if (typeof rm?.name !== 'string' || !RM_NAME_PATTERN.test(rm.name)) throw new InvalidArgumentError('rm', 'must be a ResourceManager with a valid name');
    if (this.#rms.has(rm.name) && this.#rms.get(rm.name) !== rm) throw new InvalidArgumentError('rm', `${rm.name} is already registered`);
    this.#rms.set(rm.name, rm);
    this.#unhandle ??= this.#o.transport.handle(RM_MESSAGE, (message, context) => this.#serve(message, context.signal));
    const ref: ResourceRef = { node: this.node, rm: rm.name };
    const key = `${this.registryPrefix}${this.node}/${rm.name}`;
    if (!(await this.#o.storage.get(key))) await this.#o.storage.put(key, encodeJson({ node: ref.node, rm: ref.rm }));
    return ref;
  }

  /** Stops serving calls. */
  close(): void {
    this.#unhandle?.();
    this.#unhandle = undefined;
  }

  /**
   * Invokes `op` on the RM at `ref` for each of `txs` (for `recover`: `txs` is empty and the
   * single reply holds the branches). Rejects as a whole if the RM cannot be reached in time.
   *
   * @internal Called by `TxManager`; applications do not call it.
   */
  async invoke(ref: ResourceRef, op: RmOp, txs: readonly TxId[], epoch: Epoch, timeoutMs: number): Promise<RmReply[]> {
    const local = ref.node === this.node ? this.#rms.get(ref.rm) : undefined;
    if (local) {
      return race(runBatch(local, op, txs, epoch), `${op} on ${ref.rm}`, { clock: this.#clock, timeoutMs });
    }
    const reply = await this.#o.transport.request(ref.node as NodeId, RM_MESSAGE, { op, rm: ref.rm, epoch, txs: [...txs] }, { timeoutMs });
    if (!Array.isArray(reply)) throw new InvalidArgumentError('reply', `malformed ${RM_MESSAGE} reply`);
    return reply.map((r: JsonValue): RmReply => {
      const v = r as { ok?: unknown; value?: JsonValue; code?: unknown; message?: unknown; retryable?: unknown };
      if (v.ok === true) return { ok: true, value: v.value ?? null };
      const code = String(v.code);
      const message = String(v.message);
      return { ok: false, error: txErrorFromCode(code, '', message) ?? new RemoteError(code, message, v.retryable === true) };
    });
  }

  async #serve(message: IncomingMessage, signal: AbortSignal): Promise<JsonValue> {
    const p = message.payload as { op?: unknown; rm?: unknown; epoch?: unknown; txs?: unknown };
    if (!OPS.includes(p.op as RmOp)) throw new InvalidArgumentError('op', 'unknown resource-manager operation');
    const rm = typeof p.rm === 'string' ? this.#rms.get(p.rm) : undefined;
    if (!rm) throw new InvalidArgumentError('rm', `no resource manager ${String(p.rm)} on ${this.node}`);
    if (!Array.isArray(p.txs)) throw new InvalidArgumentError('txs', 'must be an array');
    const txs = p.txs.map((t, i) => txId(t, `txs[${i}]`));
    const replies = await race(runBatch(rm, p.op as RmOp, txs, toEpoch(p.epoch)), `${String(p.op)} on ${rm.name}`, { signal });
    return replies.map((r) =>
      r.ok ? { ok: true, value: r.value } : { ok: false, code: r.error.code, message: r.error.message, retryable: r.error.retryable },
    );
  }
}

async function runBatch(rm: ResourceManager, op: RmOp, txs: readonly TxId[], epoch: Epoch): Promise<RmReply[]> {
  if (op === 'recover') {
    const branches = await rm.recover(epoch);
    return [{ ok: true, value: branches.map((b) => ({ tx: b.tx, state: b.state })) }];
  }
  return Promise.all(
    txs.map(async (tx): Promise<RmReply> => {
      try {
        switch (op) {
          case 'prepare':
            return { ok: true, value: await rm.prepare(tx, epoch) };
          case 'commit':
          case 'commitOnePhase': {
            const r = await rm.commit(tx, epoch, { onePhase: op === 'commitOnePhase' });
            return { ok: true, value: { outcome: r.outcome, heuristic: r.heuristic } };
          }
          case 'rollback': {
            const r = await rm.rollback(tx, epoch);
            return { ok: true, value: { outcome: r.outcome, heuristic: r.heuristic } };
          }
          default:
            await rm.forget(tx, epoch);
            return { ok: true, value: null };
        }
      } catch (err) {
        const error = err instanceof NonstopError ? err : new RemoteError('ERR_RM_FAILED', String(err), false);
        return { ok: false, error };
      }
    }),
  );
}

/** `true` if `value` is a well-formed {@link ResourceRef}. */
export function isResourceRef(value: unknown): value is ResourceRef {
  const v = value as { node?: unknown; rm?: unknown } | null;
  return typeof v === 'object' && v !== null && isNodeId(v.node) && typeof v.rm === 'string' && RM_NAME_PATTERN.test(v.rm);
}
