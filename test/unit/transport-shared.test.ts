/**
 * The pieces shared by the transport adapters: strict JSON encoding, the table of pending
 * requests (one timer for all time limits) and handler dispatch (signal made on demand).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AbortedError, ClosedError, InvalidArgumentError, TimeoutError } from '../../src/core/errors.js';
import { nodeId } from '../../src/core/ids.js';
import type { JsonValue } from '../../src/core/json.js';
import type { HandlerContext } from '../../src/contracts/transport.js';
import { SimulatedClock } from '../../src/testing/index.js';
import { MemoryNetwork } from '../../src/transport/memory/index.js';
import { HandlerRegistry } from '../../src/transport/shared/handler-registry.js';
import { stringifyJson } from '../../src/transport/shared/json-text.js';
import { PendingRequests } from '../../src/transport/shared/pending-requests.js';
import { encodeWireMessage, type HandlerOutcome } from '../../src/transport/shared/wire-message.js';
import { thrown } from '../fixtures/thrown.js';

const A = nodeId('a');
const B = nodeId('b');


/** What the encoder did before it had a fast path: JSON.stringify with a checking replacer. */
function referenceOutcome(value: unknown): string {
  try {
    const text = JSON.stringify(value, function (this: Record<string, unknown>, key: string, replaced: unknown) {
      const original = this[key];
      const plain =
        original === null ||
        typeof original === 'string' ||
        typeof original === 'boolean' ||
        (typeof original === 'number' && Number.isFinite(original)) ||
        Array.isArray(original) ||
        (typeof original === 'object' &&
          (Object.getPrototypeOf(original) === Object.prototype || Object.getPrototypeOf(original) === null) &&
          typeof (original as { toJSON?: unknown }).toJSON !== 'function');
      if (!plain) throw new InvalidArgumentError('payload', 'not JSON');
      return replaced;
    });
    return `text ${text}`;
  } catch {
    return 'rejected';
  }
}

function actualOutcome(value: unknown): string {
  try {
    return `text ${stringifyJson(value, 'payload')}`;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).option).toBe('payload');
    return 'rejected';
  }
}

describe('stringifyJson', () => {
  it('rejects plain objects with a toJSON method, at any depth, naming the key', () => {
    const withToJson = { toJSON: () => 'quietly replaced' };
    expect(thrown(InvalidArgumentError, () => stringifyJson(withToJson, 'payload')).message).toMatch(/toJSON/);
    const nested = thrown(InvalidArgumentError, () => stringifyJson({ list: [1, { inner: withToJson }] }, 'payload'));
    expect(nested.option).toBe('payload');
    expect(nested.message).toMatch(/toJSON method at key "inner"/);
    const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { toJSON: () => 1 });
    expect(thrown(InvalidArgumentError, () => stringifyJson([nullProto], 'payload')).message).toMatch(/toJSON/);
  });

  it('rejects a toJSON payload sent through a transport with InvalidArgumentError naming payload', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork({ clock, seed: 1 });
    const a = network.transport(A);
    const b = network.transport(B);
    await Promise.all([a.start(), b.start()]);
    let calls = 0;
    b.handle('test.count', () => {
      calls++;
      return null;
    });
    const payload = { at: { toJSON: () => '2020-01-01' } } as unknown as JsonValue;
    await expect(a.request(B, 'test.count', payload, { timeoutMs: 1_000 })).rejects.toSatisfy(
      (err: unknown) => err instanceof InvalidArgumentError && err.option === 'payload',
    );
    await expect(a.send(B, 'test.count', payload)).rejects.toSatisfy(
      (err: unknown) => err instanceof InvalidArgumentError && err.option === 'payload',
    );
    await clock.advance(10);
    expect(calls).toBe(0);
  });

  it('reports the first offending value and its key, as the checking encoder always did', () => {
    expect(thrown(InvalidArgumentError, () => stringifyJson({ a: 1, b: [1, Number.NaN], c: undefined }, 'p')).message).toBe(
      'p: is not JSON: contains NaN at key "1"',
    );
    expect(thrown(InvalidArgumentError, () => stringifyJson(new Map(), 'p')).message).toMatch(/an instance of Map$/);
    const cycle: Record<string, unknown> = { list: [] };
    (cycle['list'] as unknown[]).push(cycle);
    expect(thrown(InvalidArgumentError, () => stringifyJson(cycle, 'p')).message).toMatch(/cyclic or nested too deeply/);
    const getter = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get: () => {
        throw new Error('getter');
      },
    });
    expect(thrown(InvalidArgumentError, () => stringifyJson(getter, 'p')).message).toMatch(/cyclic or nested too deeply/);
  });

  it('accepts and encodes exactly what the checking replacer accepts, deep nesting included', () => {
    const odd = fc.constantFrom<unknown>(
      undefined,
      Number.NaN,
      -0,
      1n,
      Symbol('s'),
      () => 1,
      new Date(0),
      Object.create(null),
      { toJSON: () => 1 },
      Object.assign([1], { toJSON: () => 'array with toJSON' }),
      [1, , 3],
      { [Symbol('k')]: 1, shown: 2 },
    );
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue(),
        odd,
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 4 }), tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        expect(actualOutcome(v)).toBe(referenceOutcome(v));
      }),
      { numRuns: 2_000 },
    );
    for (const depth of [100, 600, 5_000]) {
      let deep: unknown = 1;
      for (let i = 0; i < depth; i++) deep = i % 2 === 0 ? [deep] : { k: deep };
      expect(actualOutcome(deep)).toBe(referenceOutcome(deep));
    }
  });

  it('encodes envelopes as JSON.stringify does, with the payload errors named as before', () => {
    const message = { kind: 'request', id: 3, from: A, to: B, type: 'test.x', payload: { n: [1, 'two'] }, timeoutMs: 0.5 } as const;
    expect(encodeWireMessage(message, 1_000)).toBe(JSON.stringify(message));
    const bad = { ...message, payload: { n: undefined } } as unknown as typeof message;
    expect(thrown(InvalidArgumentError, () => encodeWireMessage(bad, 1_000)).message).toMatch(/undefined at key "n"/);
    expect(thrown(InvalidArgumentError, () => encodeWireMessage(message, 50)).message).toMatch(/more than the limit of 50/);
  });
});

describe('PendingRequests time limits', () => {
  it('rejects each request with TimeoutError exactly at its own deadline, with one timer for all', async () => {
    const clock = new SimulatedClock();
    const pending = new PendingRequests(clock);
    const settledAt = new Map<string, number>();
    const track = (name: string, reply: Promise<JsonValue>): void => {
      reply.then(
        () => settledAt.set(name, -1),
        (err: unknown) => settledAt.set(name, err instanceof TimeoutError ? clock.now() : -2),
      );
    };
    track('long', pending.open({ to: B, type: 'test.x', timeoutMs: 300 }).reply);
    await clock.advance(10);
    track('short', pending.open({ to: B, type: 'test.x', timeoutMs: 100 }).reply); // earlier deadline: re-armed
    const answered = pending.open({ to: B, type: 'test.x', timeoutMs: 100 });
    track('answered', answered.reply);
    await clock.advance(5);
    track('later', pending.open({ to: B, type: 'test.x', timeoutMs: 100 }).reply);
    expect(clock.pendingTimers).toBe(1);
    expect(pending.settle({ kind: 'reply', id: answered.id, from: B, to: A, payload: 1 })).toBe(true);

    await clock.advance(94); // t = 109
    expect([...settledAt]).toEqual([['answered', -1]]);
    await clock.advance(1); // t = 110
    expect(settledAt.get('short')).toBe(110);
    expect(settledAt.has('later')).toBe(false);
    await clock.advance(4); // t = 114
    expect(settledAt.has('later')).toBe(false);
    await clock.advance(1); // t = 115
    expect(settledAt.get('later')).toBe(115);
    await clock.advance(184); // t = 299
    expect(settledAt.has('long')).toBe(false);
    await clock.advance(1); // t = 300
    expect(settledAt.get('long')).toBe(300);
    expect(pending.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('leaves no timer on the clock once nothing is pending', async () => {
    const clock = new SimulatedClock();
    const pending = new PendingRequests(clock);
    const { id, reply } = pending.open({ to: B, type: 'test.x', timeoutMs: 1_000 });
    expect(clock.pendingTimers).toBe(1);
    pending.settle({ kind: 'reply', id, from: B, to: A, payload: 'ok' });
    await expect(reply).resolves.toBe('ok');
    await clock.advance(0); // lets a turn of the event loop pass
    expect(clock.pendingTimers).toBe(0);

    const controller = new AbortController();
    const aborted = pending.open({ to: B, type: 'test.x', timeoutMs: 1_000, signal: controller.signal });
    const closed = pending.open({ to: B, type: 'test.x', timeoutMs: 2_000 });
    controller.abort();
    await expect(aborted.reply).rejects.toBeInstanceOf(AbortedError);
    pending.failAll(() => new ClosedError('transport'));
    await expect(closed.reply).rejects.toBeInstanceOf(ClosedError);
    expect(clock.pendingTimers).toBe(0);
  });

  it('keeps its queues small while one request stays pending and many others are answered', () => {
    const clock = new SimulatedClock();
    const pending = new PendingRequests(clock);
    pending.open({ to: B, type: 'test.stuck', timeoutMs: 1_000 }).reply.catch(() => undefined);
    for (let i = 0; i < 10_000; i++) {
      const { id } = pending.open({ to: B, type: 'test.x', timeoutMs: 1_000 });
      pending.settle({ kind: 'reply', id, from: B, to: A, payload: i });
    }
    expect(pending.size).toBe(1);
    pending.failAll(() => new ClosedError('transport'));
    expect(pending.size).toBe(0);
  });
});

describe('HandlerRegistry.dispatch', () => {
  const closing = new AbortController().signal;

  it('returns the outcome of a synchronous handler directly, and a promise for an async one', async () => {
    const registry = new HandlerRegistry(new SimulatedClock());
    registry.handle('test.sync', (message) => message.payload);
    registry.handle('test.nothing', () => undefined);
    registry.handle('test.throws', () => {
      throw new TimeoutError('inner', 5);
    });
    registry.handle('test.async', async (message) => message.payload);
    const message = (type: string) => ({ type, from: A, payload: 7, expectsReply: true });
    expect(registry.dispatch(message('test.sync'), { signal: closing, timeoutMs: 100 })).toEqual({ ok: true, payload: 7 });
    expect(registry.dispatch(message('test.nothing'), { signal: closing })).toEqual({ ok: true, payload: null });
    expect(registry.dispatch(message('test.throws'), { signal: closing })).toMatchObject({ ok: false, failure: { code: 'ERR_TIMEOUT' } });
    expect(registry.dispatch(message('test.none'), { signal: closing })).toMatchObject({ ok: false, failure: { code: 'ERR_NO_HANDLER' } });
    const later = registry.dispatch(message('test.async'), { signal: closing, timeoutMs: 100 });
    expect(later).toBeInstanceOf(Promise);
    await expect(later).resolves.toEqual({ ok: true, payload: 7 });
  });

  it("makes the handler's signal only when read; it aborts at the deadline counted from dispatch", async () => {
    const clock = new SimulatedClock();
    const registry = new HandlerRegistry(clock);
    let context: HandlerContext | undefined;
    let release: () => void = () => undefined;
    registry.handle('test.slow', (_message, handlerContext) => {
      context = handlerContext;
      return new Promise<null>((resolve) => {
        release = () => resolve(null);
      });
    });
    const outcome = registry.dispatch({ type: 'test.slow', from: A, payload: null, expectsReply: true }, { signal: closing, timeoutMs: 100 });
    expect(clock.pendingTimers).toBe(0); // nothing read the signal yet
    await clock.advance(60);
    const signal = context!.signal; // read late: still aborts 100 ms after dispatch
    expect(context!.signal).toBe(signal);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(39);
    expect(signal.aborted).toBe(false);
    await clock.advance(1);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(TimeoutError);
    release();
    await expect(outcome as Promise<HandlerOutcome>).resolves.toEqual({ ok: true, payload: null });
  });

  it("gives a handler that reads its signal after its deadline an aborted one, and follows the transport's signal", async () => {
    const clock = new SimulatedClock();
    const registry = new HandlerRegistry(clock);
    const transportClosing = new AbortController();
    const contexts: HandlerContext[] = [];
    registry.handle('test.keep', (_message, context) => {
      contexts.push(context);
      return new Promise<never>(() => undefined);
    });
    const message = { type: 'test.keep', from: A, payload: null, expectsReply: true };
    registry.dispatch(message, { signal: transportClosing.signal, timeoutMs: 50 });
    registry.dispatch(message, { signal: transportClosing.signal, timeoutMs: 5_000 });
    registry.dispatch(message, { signal: transportClosing.signal });
    await clock.advance(80);
    expect(contexts[0]!.signal.aborted).toBe(true);
    expect(contexts[0]!.signal.reason).toBeInstanceOf(TimeoutError);
    const [, second, third] = contexts.map((c) => c.signal);
    expect(second!.aborted).toBe(false);
    expect(third).toBe(transportClosing.signal);
    transportClosing.abort(new ClosedError('transport'));
    expect(second!.aborted).toBe(true);
    expect(second!.reason).toBeInstanceOf(ClosedError);
  });
});
