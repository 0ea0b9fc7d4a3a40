/**
 * The conformance suite every {@link Transport} adapter must pass, exported so that a host project
 * that writes its own adapter proves it with the same tests nonstop uses.
 *
 * ```ts
 * import { describe, it } from 'vitest';
 * import { transportConformance } from 'nonstop/testing';
 *
 * transportConformance({ describe, it }, async (nodes) => {
 *   const transports = nodes.map((node) => new MyTransport({ self: node }));
 *   await Promise.all(transports.map((t) => t.start()));
 *   return { transports, cleanup: async () => { await Promise.all(transports.map((t) => t.close())); } };
 * });
 * ```
 *
 * The same test bodies run on real time and on simulated time: a harness that drives a simulated
 * clock returns that `clock` and an `advance` function, and the suite moves time forward while it
 * waits for an outcome.
 *
 * Decisions the suite enforces beyond the contract's text: payloads must survive a JSON round
 * trip unchanged, so `undefined`, functions, `bigint`, `NaN`, `±Infinity`, cycles and non-plain
 * objects are rejected with `InvalidArgumentError` naming `payload`, as is a payload whose
 * message would exceed `capabilities.maxFrameBytes`; a handler result that cannot be sent reaches
 * the caller as `RemoteError` with `remoteCode` `ERR_INVALID_ARGUMENT`.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { systemClock, type Clock } from '../../core/clock.js';
import {
  AbortedError,
  ClosedError,
  ConflictError,
  InvalidArgumentError,
  NoHandlerError,
  NonstopError,
  RemoteError,
  StorageUnavailableError,
  TimeoutError,
  UnreachableError,
} from '../../core/errors.js';
import { nodeId, type NodeId } from '../../core/ids.js';
import type { JsonValue } from '../../core/json.js';
import type { IncomingMessage, Transport } from '../../contracts/transport.js';
import type { ConformanceRunner } from './runner.js';

/** A fresh set of started, mutually reachable transports, one per requested node. */
export interface TransportHarness {
  /** The transports, in the order of the requested node ids, all started. */
  readonly transports: readonly Transport[];
  /** The clock the transports measure time limits on. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * For simulated time: moves the clock forward by `ms`, running what falls due. Leave it out
   * for adapters that run on real time.
   */
  readonly advance?: (ms: number) => Promise<void>;
  /** Closes everything the factory created. Called once per test, also after failures. */
  readonly cleanup: () => Promise<void>;
  /**
   * For authenticated adapters: creates and starts a transport that claims to be `claimed` and
   * can reach the other nodes' addresses, but lacks the cluster's credentials (e.g. a wrong
   * HMAC secret). Authentication tests are skipped without it.
   */
  readonly createImpostor?: (claimed: NodeId) => Promise<Transport>;
}

/** Creates a {@link TransportHarness} for the given node ids. */
export type TransportFactory = (nodes: readonly NodeId[]) => Promise<TransportHarness>;

/** Options of {@link transportConformance}. */
export interface TransportConformanceOptions {
  /** The name of the outer `describe` block. Default `Transport conformance`. */
  readonly name?: string;
  /** How long, on the harness clock, any awaited outcome may take before the test fails. Default 10 000 ms. */
  readonly settleLimitMs?: number;
  /** Allowed lateness of a time-out, in ms on the harness clock. Default 1 000 ms. */
  readonly timingSlackMs?: number;
  /**
   * Run the authentication tests: the adapter reports `capabilities.authenticated` and the
   * harness offers `createImpostor`. Default `false`: those tests are skipped (and say so).
   */
  readonly authentication?: boolean;
}

const NODES: readonly NodeId[] = [nodeId('node-a'), nodeId('node-b'), nodeId('node-c')];
const UNKNOWN: NodeId = nodeId('node-unknown');
/** Simulated time moved per step while waiting. */
const STEP_MS = 5;
/** Room left for framing (length prefix, MAC, envelope) in the "near the limit" test. */
const FRAME_MARGIN_BYTES = 4096;

const ROUND_TRIP_PAYLOADS: ReadonlyArray<readonly [string, JsonValue]> = [
  ['nested objects', { a: { b: { c: [1, 2, { d: [true, false, null] }] } }, list: [[], {}, ''], n: { m: {} } }],
  ['unicode', { text: 'héllo wörld ✓ 日本語 🚀 \u0000 \u2028 \u2029 \ud800 "\\', ключ: '🔑', '': 'empty key' }],
  ['an empty object', {}],
  ['null', null],
  ['numbers', { int: 42, negative: -7, fraction: 0.1, huge: 1e300, tiny: 5e-324, safe: Number.MAX_SAFE_INTEGER }],
  ['an empty array', []],
  ['an empty string', ''],
  ['false', false],
  ['zero', 0],
];

const NOT_JSON: ReadonlyArray<readonly [string, () => unknown]> = [
  ['a function', () => () => 1],
  ['a bigint', () => ({ n: 1n })],
  ['NaN', () => ({ n: Number.NaN })],
  ['Infinity', () => [Number.POSITIVE_INFINITY]],
  ['undefined', () => undefined],
  ['an undefined property', () => ({ a: undefined })],
  ['a sparse array', () => [1, , 3]],
  ['a cycle', () => {
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    return cycle;
  }],
  ['a Date', () => ({ at: new Date(0) })],
  ['a Map', () => new Map([[1, 2]])],
  ['a symbol', () => Symbol('s')],
];

/** A NonstopError subclass the suite defines, to show that codes other than nonstop's own travel. */
class ConformanceTestError extends NonstopError {
  readonly code = 'ERR_CONFORMANCE_TEST' as const;
  readonly retryable = true as const;
}

/**
 * Defines the Transport conformance tests with `runner`. Each test asks `factory` for a fresh
 * harness of two or three nodes and cleans it up afterwards.
 *
 * @param runner - the test runner's `describe` and `it`
 * @param factory - creates started transports for the given node ids
 * @param options - suite name and time bounds
 */
export function transportConformance(
  runner: ConformanceRunner,
  factory: TransportFactory,
  options: TransportConformanceOptions = {},
): void {
  const { describe, it } = runner;
  const settleLimitMs = options.settleLimitMs ?? 10_000;
  const timingSlackMs = options.timingSlackMs ?? 1_000;

  /** Runs `body` with a fresh harness of `size` nodes, cleaning up whatever happens. */
  const cluster =
    (size: number, body: (t: Tools) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const harness = await factory(NODES.slice(0, size));
      assert.equal(harness.transports.length, size, 'the factory must return one transport per node');
      try {
        await body(new Tools(harness, settleLimitMs));
      } finally {
        await harness.cleanup();
      }
    };

  describe(options.name ?? 'Transport conformance', () => {
    describe('request and reply', () => {
      for (const [what, payload] of ROUND_TRIP_PAYLOADS) {
        it(
          `round-trips ${what}`,
          cluster(2, async (t) => {
            const [a, b] = t.pair();
            const seen: IncomingMessage[] = [];
            b.handle('conformance.echo', (message) => {
              seen.push(message);
              return message.payload;
            });
            const reply = await t.resolves(a.request(b.self, 'conformance.echo', payload, { timeoutMs: 5_000 }));
            assert.deepEqual(reply, payload);
            assert.equal(seen.length, 1);
            assert.equal(seen[0]?.from, a.self);
            assert.equal(seen[0]?.type, 'conformance.echo');
            assert.equal(seen[0]?.expectsReply, true);
            assert.deepEqual(seen[0]?.payload, payload);
          }),
        );
      }

      it(
        'sends a handler result of undefined as null',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          b.handle('conformance.nothing', () => undefined);
          assert.equal(await t.resolves(a.request(b.self, 'conformance.nothing', 1, { timeoutMs: 5_000 })), null);
        }),
      );

      it(
        'copies payloads: neither side sees the other mutate them',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          const sent = { list: [1, 2], inner: { flag: true } };
          let received: { list: number[] } | undefined;
          const returned = { answer: [1] };
          b.handle('conformance.mutate', (message) => {
            received = message.payload as unknown as { list: number[] };
            received.list.push(99);
            return returned;
          });
          const pending = t.hold(a.request(b.self, 'conformance.mutate', sent, { timeoutMs: 5_000 }));
          sent.inner.flag = false;
          const reply = await t.resolves(pending);
          returned.answer.push(2);
          assert.deepEqual(sent, { list: [1, 2], inner: { flag: false } });
          assert.deepEqual(received, { list: [1, 2, 99], inner: { flag: true } });
          assert.deepEqual(reply, { answer: [1] });
        }),
      );

      it(
        'answers 200 concurrent requests from two nodes, each with its own reply',
        cluster(3, async (t) => {
          const [a, b, c] = t.harness.transports as [Transport, Transport, Transport];
          b.handle('conformance.square', async (message) => {
            const { i } = message.payload as { i: number };
            if (i % 3 === 0) await t.clock.sleep(i % 7); // vary the answer order
            return { i, square: i * i, from: message.from };
          });
          const calls = Array.from({ length: 200 }, (_, i) => {
            const caller = i % 2 === 0 ? a : c;
            return { i, caller, reply: caller.request(b.self, 'conformance.square', { i }, { timeoutMs: 10_000 }) };
          });
          const replies = await t.resolves(Promise.all(calls.map((call) => call.reply)));
          for (const [index, call] of calls.entries()) {
            assert.deepEqual(replies[index], { i: call.i, square: call.i * call.i, from: call.caller.self });
          }
        }),
      );
    });

    describe('one-way messages', () => {
      it(
        'reach the handler with from, type, payload and expectsReply false',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          const seen: IncomingMessage[] = [];
          b.handle('conformance.note', (message) => {
            seen.push(message);
          });
          await t.resolves(a.send(b.self, 'conformance.note', { hello: 'wörld' }));
          await t.until(() => seen.length > 0);
          assert.equal(seen.length, 1);
          assert.deepEqual(
            { ...seen[0] },
            { type: 'conformance.note', from: a.self, payload: { hello: 'wörld' }, expectsReply: false },
          );
        }),
      );

      it(
        'to a node without a running transport reject with UnreachableError',
        cluster(2, async (t) => {
          const [a] = t.pair();
          const err = await t.rejects(a.send(UNKNOWN, 'conformance.note', {}), UnreachableError);
          assert.equal(err.node, UNKNOWN);
        }),
      );
    });

    describe('handler failures', () => {
      const cases: ReadonlyArray<readonly [string, () => unknown, string, boolean]> = [
        ['ConflictError', () => new ConflictError('k', 3), 'ERR_CONFLICT', false],
        ['StorageUnavailableError', () => new StorageUnavailableError('down'), 'ERR_STORAGE_UNAVAILABLE', true],
        ['a NonstopError subclass of the host', () => new ConformanceTestError('custom'), 'ERR_CONFORMANCE_TEST', true],
        ['a plain Error', () => new Error('boom'), 'ERR_REMOTE', false],
        ['a string', () => 'not an error', 'ERR_REMOTE', false],
      ];
      for (const [what, makeError, remoteCode, retryable] of cases) {
        it(
          `a handler throwing ${what} gives RemoteError ${remoteCode}, retryable ${retryable}`,
          cluster(2, async (t) => {
            const [a, b] = t.pair();
            b.handle('conformance.fail', async () => {
              throw makeError();
            });
            const err = await t.rejects(a.request(b.self, 'conformance.fail', {}, { timeoutMs: 5_000 }), RemoteError);
            assert.equal(err.code, 'ERR_REMOTE');
            assert.equal(err.remoteCode, remoteCode);
            assert.equal(err.retryable, retryable);
          }),
        );
      }

      it(
        'a handler result that is not JSON gives RemoteError ERR_INVALID_ARGUMENT',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          b.handle('conformance.bad-reply', () => ({ n: 1n }) as unknown as JsonValue);
          const err = await t.rejects(a.request(b.self, 'conformance.bad-reply', {}, { timeoutMs: 5_000 }), RemoteError);
          assert.equal(err.remoteCode, 'ERR_INVALID_ARGUMENT');
        }),
      );

      it(
        'a request without a handler rejects with NoHandlerError',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          const err = await t.rejects(a.request(b.self, 'conformance.nobody', {}, { timeoutMs: 5_000 }), NoHandlerError);
          assert.equal(err.messageType, 'conformance.nobody');
        }),
      );

      it(
        'the function returned by handle() unregisters, but not a later replacement',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          const off = b.handle('conformance.x', () => 'first');
          assert.equal(await t.resolves(a.request(b.self, 'conformance.x', {}, { timeoutMs: 5_000 })), 'first');
          off();
          await t.rejects(a.request(b.self, 'conformance.x', {}, { timeoutMs: 5_000 }), NoHandlerError);
          const offSecond = b.handle('conformance.x', () => 'second');
          b.handle('conformance.x', () => 'third');
          offSecond();
          assert.equal(await t.resolves(a.request(b.self, 'conformance.x', {}, { timeoutMs: 5_000 })), 'third');
        }),
      );
    });

    describe('bounded requests', () => {
      it(
        'a request to a node without a running transport rejects with UnreachableError',
        cluster(2, async (t) => {
          const [a] = t.pair();
          const err = await t.rejects(a.request(UNKNOWN, 'conformance.x', {}, { timeoutMs: 5_000 }), UnreachableError);
          assert.equal(err.node, UNKNOWN);
          assert.equal(err.retryable, true);
        }),
      );

      it(
        'a request whose handler never answers rejects with TimeoutError at its time limit',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          b.handle('conformance.stall', () => new Promise<never>(() => {}));
          const started = t.clock.now();
          const err = await t.rejects(a.request(b.self, 'conformance.stall', {}, { timeoutMs: 200 }), TimeoutError);
          const elapsed = t.clock.now() - started;
          assert.equal(err.timeoutMs, 200);
          assert.ok(elapsed >= 195, `rejected after ${elapsed} ms, before the 200 ms limit`);
          assert.ok(elapsed <= 200 + timingSlackMs, `rejected after ${elapsed} ms, limit 200 ms`);
        }),
      );

      it(
        'a reply after the time limit is ignored and the transport keeps working',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          b.handle('conformance.slow', async () => {
            await t.clock.sleep(300);
            return 'late';
          });
          b.handle('conformance.fast', () => 'fast');
          await t.rejects(a.request(b.self, 'conformance.slow', {}, { timeoutMs: 100 }), TimeoutError);
          await t.pass(400);
          assert.equal(await t.resolves(a.request(b.self, 'conformance.fast', {}, { timeoutMs: 5_000 })), 'fast');
        }),
      );

      it(
        "the handler's signal aborts at the request's time limit",
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          let handlerSignal: AbortSignal | undefined;
          b.handle('conformance.stall', (_message, context) => {
            handlerSignal = context.signal;
            return new Promise<never>(() => {});
          });
          await t.rejects(a.request(b.self, 'conformance.stall', {}, { timeoutMs: 200 }), TimeoutError);
          await t.until(() => handlerSignal?.aborted === true);
        }),
      );

      it(
        'aborting the signal rejects the request with AbortedError',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          let calls = 0;
          b.handle('conformance.stall', () => {
            calls++;
            return new Promise<never>(() => {});
          });
          const controller = new AbortController();
          const pending = t.hold(a.request(b.self, 'conformance.stall', {}, { timeoutMs: 60_000, signal: controller.signal }));
          await t.until(() => calls === 1);
          controller.abort();
          await t.rejects(pending, AbortedError);
        }),
      );

      it(
        'an already aborted signal rejects request and send with AbortedError, sending nothing',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          let calls = 0;
          b.handle('conformance.count', () => {
            calls++;
          });
          const signal = AbortSignal.abort();
          await t.rejects(a.request(b.self, 'conformance.count', {}, { timeoutMs: 5_000, signal }), AbortedError);
          await t.rejects(a.send(b.self, 'conformance.count', {}, { signal }), AbortedError);
          await t.pass(200);
          assert.equal(calls, 0);
        }),
      );
    });

    describe('invalid input', () => {
      it(
        'invalid message types reject with InvalidArgumentError naming type',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          for (const type of ['', 'Upper.case', 'has space', '.leading', 'trailing.', 'x'.repeat(129)]) {
            const err = await t.rejects(a.request(b.self, type, {}, { timeoutMs: 5_000 }), InvalidArgumentError);
            assert.equal(err.option, 'type');
            assert.equal((await t.rejects(a.send(b.self, type, {}), InvalidArgumentError)).option, 'type');
            assert.throws(() => b.handle(type, () => null), (e: unknown) => e instanceof InvalidArgumentError && e.option === 'type');
          }
        }),
      );

      it(
        'invalid destinations and time limits reject with InvalidArgumentError naming them',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          const badNode = 'not a node!' as NodeId;
          assert.equal((await t.rejects(a.send(badNode, 'conformance.x', {}), InvalidArgumentError)).option, 'to');
          assert.equal(
            (await t.rejects(a.request(badNode, 'conformance.x', {}, { timeoutMs: 5_000 }), InvalidArgumentError)).option,
            'to',
          );
          for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
            const err = await t.rejects(a.request(b.self, 'conformance.x', {}, { timeoutMs }), InvalidArgumentError);
            assert.equal(err.option, 'timeoutMs');
          }
        }),
      );

      for (const [what, make] of NOT_JSON) {
        it(
          `a payload containing ${what} rejects with InvalidArgumentError naming payload`,
          cluster(2, async (t) => {
            const [a, b] = t.pair();
            let calls = 0;
            b.handle('conformance.count', () => {
              calls++;
              return null;
            });
            const payload = make() as JsonValue;
            const request = a.request(b.self, 'conformance.count', payload, { timeoutMs: 5_000 });
            assert.equal((await t.rejects(request, InvalidArgumentError)).option, 'payload');
            assert.equal((await t.rejects(a.send(b.self, 'conformance.count', payload), InvalidArgumentError)).option, 'payload');
            assert.equal(await t.resolves(a.request(b.self, 'conformance.count', 'ok', { timeoutMs: 5_000 })), null);
            assert.equal(calls, 1);
          }),
        );
      }
    });

    describe('frame size', () => {
      it(
        'a payload just under maxFrameBytes round-trips',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          b.handle('conformance.echo', (message) => message.payload);
          const text = 'x'.repeat(Math.min(a.capabilities.maxFrameBytes, b.capabilities.maxFrameBytes) - FRAME_MARGIN_BYTES);
          const reply = await t.resolves(a.request(b.self, 'conformance.echo', { text }, { timeoutMs: 10_000 }));
          assert.equal((reply as { text: string }).text, text);
        }),
      );

      it(
        'a payload over maxFrameBytes rejects with InvalidArgumentError naming payload',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          let calls = 0;
          b.handle('conformance.echo', (message) => {
            calls++;
            return message.payload;
          });
          const text = 'x'.repeat(a.capabilities.maxFrameBytes + 1);
          const err = await t.rejects(a.request(b.self, 'conformance.echo', { text }, { timeoutMs: 10_000 }), InvalidArgumentError);
          assert.equal(err.option, 'payload');
          assert.equal((await t.rejects(a.send(b.self, 'conformance.echo', { text }), InvalidArgumentError)).option, 'payload');
          await t.pass(200);
          assert.equal(calls, 0);
        }),
      );

      it(
        'a reply over maxFrameBytes gives RemoteError ERR_INVALID_ARGUMENT',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          b.handle('conformance.huge', () => 'x'.repeat(b.capabilities.maxFrameBytes + 1));
          const err = await t.rejects(a.request(b.self, 'conformance.huge', {}, { timeoutMs: 10_000 }), RemoteError);
          assert.equal(err.remoteCode, 'ERR_INVALID_ARGUMENT');
        }),
      );
    });

    describe('lifecycle', () => {
      it(
        'start() is idempotent',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          await t.resolves(a.start());
          b.handle('conformance.echo', (message) => message.payload);
          assert.equal(await t.resolves(a.request(b.self, 'conformance.echo', 1, { timeoutMs: 5_000 })), 1);
        }),
      );

      it(
        'close() rejects pending requests and later calls with ClosedError, and is idempotent',
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          let calls = 0;
          b.handle('conformance.stall', () => {
            calls++;
            return new Promise<never>(() => {});
          });
          const pending = t.hold(a.request(b.self, 'conformance.stall', {}, { timeoutMs: 60_000 }));
          await t.until(() => calls === 1);
          await t.resolves(a.close());
          await t.rejects(pending, ClosedError);
          await t.rejects(a.request(b.self, 'conformance.stall', {}, { timeoutMs: 5_000 }), ClosedError);
          await t.rejects(a.send(b.self, 'conformance.stall', {}), ClosedError);
          await t.rejects(a.start(), ClosedError);
          await t.resolves(a.close());
          await t.resolves(a[Symbol.asyncDispose]());
        }),
      );

      it(
        "closing aborts the signal of the closing node's running handlers",
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          let handlerSignal: AbortSignal | undefined;
          b.handle('conformance.stall', (_message, context) => {
            handlerSignal = context.signal;
            return new Promise<never>(() => {});
          });
          const pending = t.hold(a.request(b.self, 'conformance.stall', {}, { timeoutMs: 1_000 }));
          await t.until(() => handlerSignal !== undefined);
          assert.equal(handlerSignal?.aborted, false);
          await t.resolves(b[Symbol.asyncDispose]());
          assert.equal(handlerSignal?.aborted, true);
          // The caller learns nothing definite (the request may have been processed), only that it failed with some typed error.
          await t.rejects(pending, NonstopError);
        }),
      );
    });

    describe('authentication', () => {
      const name = 'frames from a node without the credentials never reach a handler';
      if (options.authentication !== true) {
        it(`(skipped: ${name}; the adapter declares no authentication)`, () => undefined);
        return;
      }
      it(
        name,
        cluster(2, async (t) => {
          const [a, b] = t.pair();
          const { createImpostor } = t.harness;
          assert.equal(b.capabilities.authenticated, true, 'options.authentication needs capabilities.authenticated');
          assert.ok(createImpostor, 'options.authentication needs harness.createImpostor');
          let calls = 0;
          b.handle('conformance.secret', () => {
            calls++;
            return 'secret';
          });
          const impostor = await createImpostor(a.self);
          try {
            await t.rejects(impostor.request(b.self, 'conformance.secret', {}, { timeoutMs: 1_000 }), NonstopError);
            await t.settle(impostor.send(b.self, 'conformance.secret', {}));
            await t.pass(200);
            assert.equal(calls, 0);
          } finally {
            await impostor.close();
          }
        }),
      );
    });
  });
}

/** What a test body works with: the harness, and waiting that works on real and simulated time. */
class Tools {
  readonly harness: TransportHarness;
  readonly clock: Clock;
  readonly #limitMs: number;

  constructor(harness: TransportHarness, limitMs: number) {
    this.harness = harness;
    this.clock = harness.clock ?? systemClock;
    this.#limitMs = limitMs;
  }

  /** The first two transports. */
  pair(): [Transport, Transport] {
    const [a, b] = this.harness.transports;
    assert.ok(a && b);
    return [a, b];
  }

  /**
   * Marks `promise` as handled, so that it may reject while the test awaits something else, and
   * returns it.
   */
  hold<T>(promise: Promise<T>): Promise<T> {
    promise.catch(() => undefined);
    return promise;
  }

  /** Waits (moving simulated time) until `promise` settles; fails the test after the limit. */
  async settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
    let done = false;
    const result = promise.then(
      (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
      (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
    );
    void result.then(() => {
      done = true;
    });
    await this.until(() => done);
    return result;
  }

  /** Waits for `promise` and returns its value; fails the test if it rejects. */
  async resolves<T>(promise: Promise<T>): Promise<T> {
    const outcome = await this.settle(promise);
    if (outcome.status === 'rejected') throw outcome.reason;
    return outcome.value;
  }

  /** Waits for `promise` and returns its rejection, which must be an instance of `type`. */
  async rejects<E extends Error>(promise: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
    const outcome = await this.settle(promise);
    assert.equal(outcome.status, 'rejected', `expected a ${type.name}, but the call resolved`);
    const reason: unknown = (outcome as PromiseRejectedResult).reason;
    if (!(reason instanceof type)) {
      assert.fail(`expected a ${type.name}, got ${reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)}`);
    }
    return reason;
  }

  /** Waits (moving simulated time) until `condition()` holds; fails the test after the limit. */
  async until(condition: () => boolean): Promise<void> {
    const started = this.clock.now();
    await yieldToIo();
    while (!condition()) {
      if (this.clock.now() - started > this.#limitMs) assert.fail(`still waiting after ${this.#limitMs} ms`);
      await this.pass(STEP_MS);
    }
  }

  /** Lets `ms` of time pass (simulated or real). */
  async pass(ms: number): Promise<void> {
    if (this.harness.advance) await this.harness.advance(ms);
    else await this.clock.sleep(ms);
  }
}

function yieldToIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
