/**
 * Fuzzes the socket-free decoding and verification path of the TCP transport (FrameDecoder →
 * FrameOpener → readEntries → decodeMessage, and the handshake's hello decoder) with valid,
 * mutated and random frames fed in random chunks. Properties: nothing but ProtocolError is ever
 * thrown, every call returns (no hang), no frame is accepted unless its bytes are those of a
 * frame that was really sealed, and valid frames give back exactly the messages sealed in them.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import { FrameOpener, FrameSealer, MAC_BYTES } from '../../src/transport/tcp/frame-auth.js';
import {
  FRAME_VERSION,
  FrameDecoder,
  FrameKind,
  HEADER_BYTES,
  readEntries,
  type RawFrame,
} from '../../src/transport/tcp/frame-codec.js';
import { decodeHello } from '../../src/transport/tcp/handshake.js';
import { decodeMessage, EncodedMessage } from '../../src/transport/tcp/message-codec.js';
import type { JsonValue } from '../../src/core/json.js';
import { nodeId } from '../../src/core/ids.js';
import type { WireMessage } from '../../src/transport/shared/wire-message.js';
import { sealEntries } from '../fixtures/tcp-entries.js';

const KEY = Buffer.alloc(32, 0x5a);
const MAX_FRAME_BYTES = 2048;
const BATCH = 50;
const stats = { mutated: 0, random: 0, other: 0, accepted: 0, rejected: 0, started: performance.now() };

afterAll(() => {
  const seconds = (performance.now() - stats.started) / 1000;
  console.log(
    `tcp frame fuzz: ${stats.mutated} mutated + ${stats.random} random frames + ${stats.other} other inputs ` +
      `(${stats.accepted} frames accepted, ${stats.rejected} rejections) in ${seconds.toFixed(1)} s`,
  );
});

const PEER = nodeId('peer-a');
const SELF = nodeId('self-b');

/** A message as sealed, and what decoding it must give back. */
interface Sample {
  readonly encoded: EncodedMessage;
  readonly expected: WireMessage;
}

/** Seals a message frame with sequence number `seq` carrying `samples`. */
function seal(seq: number, samples: readonly Sample[]): Buffer {
  return sealEntries(new FrameSealer(KEY, seq), samples.map((s) => s.encoded));
}

/** The messages of an accepted message frame, decoded and validated. */
function messagesOf(frame: RawFrame): WireMessage[] {
  const out: WireMessage[] = [];
  readEntries(frame.body, (bytes, start, end) => out.push(decodeMessage(bytes, start, end, PEER, SELF)) > 0);
  return out;
}

/** Feeds `bytes` in chunks cut at `cuts` through decode + verify; returns the accepted frames. */
function verify(
  kind: 'mutated' | 'random' | 'other',
  bytes: Uint8Array,
  cuts: readonly number[],
  firstSeq: number,
): { accepted: Buffer[]; error?: ProtocolError } {
  stats[kind]++;
  const decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES, macBytes: MAC_BYTES });
  const opener = new FrameOpener(KEY, firstSeq);
  const accepted: Buffer[] = [];
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
  let from = 0;
  try {
    for (const to of [...points, bytes.length]) {
      decoder.push(bytes.subarray(from, to), (frame) => {
        opener.open(frame);
        if (frame.kind === FrameKind.message) messagesOf(frame);
        accepted.push(Buffer.from(frame.bytes));
      });
      from = to;
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    stats.rejected++;
    stats.accepted += accepted.length;
    return { accepted, error: err };
  }
  stats.accepted += accepted.length;
  return { accepted };
}

const MAX_MESSAGE_BYTES = 1024;
const payload: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.json({ maxDepth: 2 }).map((text) => JSON.parse(text) as JsonValue),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const messageType = fc.stringMatching(/^[a-z][A-Za-z0-9_-]{0,8}(\.[A-Za-z0-9_-]{1,6}){0,2}$/);
const id = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER));
const sample: fc.Arbitrary<Sample> = fc.oneof(
  fc.record({ type: messageType, payload }).map(({ type, payload }) => ({
    encoded: EncodedMessage.send(type, payload, MAX_MESSAGE_BYTES),
    expected: { kind: 'send' as const, from: PEER, to: SELF, type, payload },
  })),
  fc
    .record({ id, type: messageType, payload, timeoutMs: fc.oneof(fc.integer({ min: 1, max: 60_000 }), fc.constant(0.5)) })
    .map(({ id, type, payload, timeoutMs }) => ({
      encoded: EncodedMessage.request(id, type, payload, timeoutMs, MAX_MESSAGE_BYTES),
      expected: { kind: 'request' as const, id, from: PEER, to: SELF, type, payload, timeoutMs },
    })),
  fc.record({ id, payload }).map(({ id, payload }) => ({
    encoded: EncodedMessage.reply(id, { ok: true, payload }, MAX_MESSAGE_BYTES),
    expected: { kind: 'reply' as const, id, from: PEER, to: SELF, payload },
  })),
  fc
    .record({
      id,
      code: fc.stringMatching(/^[A-Z][A-Z0-9_]{0,20}$/),
      message: fc.string({ unit: 'binary', maxLength: 60 }),
      retryable: fc.boolean(),
    })
    .map(({ id, code, message, retryable }) => ({
      encoded: EncodedMessage.reply(id, { ok: false, failure: { code, message, retryable } }, MAX_MESSAGE_BYTES),
      expected: { kind: 'error' as const, id, from: PEER, to: SELF, code, message, retryable },
    })),
);
const validFrame = fc.record({
  seq: fc.oneof(fc.nat(10), fc.constant(2 ** 32 - 1), fc.constant(Number.MAX_SAFE_INTEGER - 1)),
  samples: fc.array(sample, { minLength: 1, maxLength: 4 }),
});

type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'delete'; readonly at: number; readonly count: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'swap'; readonly at: number; readonly other: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swap' as const), at: fc.nat(), other: fc.nat() }),
);

function mutate(frame: Buffer, mutations: readonly Mutation[]): Buffer {
  let bytes = Buffer.from(frame);
  for (const m of mutations) {
    const at = m.at % (bytes.length + 1);
    switch (m.op) {
      case 'flip':
        if (at < bytes.length) bytes[at]! ^= 1 << m.bit;
        break;
      case 'set':
        if (at < bytes.length) bytes[at] = m.value;
        break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
        break;
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.count)]);
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at);
        break;
      case 'swap': {
        const other = m.other % (bytes.length + 1);
        if (at < bytes.length && other < bytes.length) [bytes[at], bytes[other]] = [bytes[other]!, bytes[at]!];
      }
    }
  }
  return bytes;
}

const cuts = fc.array(fc.nat(), { maxLength: 4 });

describe('TCP frame decoder fuzz', () => {
  it('accepts no mutated frame unless its bytes are the original, and throws nothing but ProtocolError', () => {
    fc.assert(
      fc.property(
        validFrame,
        fc.array(fc.record({ mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }), cuts }), {
          minLength: BATCH,
          maxLength: BATCH,
        }),
        ({ seq, samples }, variants) => {
          const original = seal(seq, samples);
          for (const { mutations, cuts: at } of variants) {
            const mutated = mutate(original, mutations);
            const { accepted } = verify('mutated', mutated, at, seq);
            for (const frame of accepted) expect(frame.equals(original)).toBe(true);
            expect(accepted.length).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('accepts nothing from random bytes, with or without a plausible header', () => {
    const plausible = fc
      .record({ body: fc.uint8Array({ maxLength: 200 }), kind: fc.integer({ min: 0, max: 4 }), seq: fc.nat(3) })
      .map(({ body, kind, seq }) => {
        const bytes = Buffer.alloc(HEADER_BYTES + body.length + MAC_BYTES);
        bytes.writeUInt32BE(bytes.length - 4, 0);
        bytes[4] = FRAME_VERSION;
        bytes[5] = kind;
        bytes.writeUInt32BE(seq, 10);
        bytes.set(body, HEADER_BYTES);
        return bytes;
      });
    const input = fc.oneof(fc.uint8Array({ maxLength: 300 }), plausible);
    fc.assert(
      fc.property(fc.array(fc.record({ bytes: input, cuts }), { minLength: BATCH, maxLength: BATCH }), (inputs) => {
        for (const { bytes, cuts: at } of inputs) expect(verify('random', bytes, at, 0).accepted).toEqual([]);
      }),
      { numRuns: 1_500 },
    );
  });

  it('decodes valid streams split at random points, in order and complete', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(sample, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.nat(1000),
        (batches, at, firstSeq) => {
          const frames = batches.map((samples, i) => seal(firstSeq + i, samples));
          const { accepted, error } = verify('other', Buffer.concat(frames), at, firstSeq);
          expect(error).toBeUndefined();
          expect(accepted).toEqual(frames);
          // The messages come back exactly as sealed (JSON text compared: -0 arrives as 0).
          const decoded = accepted.flatMap((bytes) => {
            const decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES, macBytes: MAC_BYTES });
            const frames: RawFrame[] = [];
            decoder.push(bytes, (frame) => frames.push(frame));
            return frames.flatMap(messagesOf);
          });
          expect(JSON.stringify(decoded)).toBe(JSON.stringify(batches.flat().map((s) => s.expected)));
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('rejects a valid frame fed to a connection that expects another sequence number', () => {
    fc.assert(
      fc.property(validFrame, fc.nat(20), ({ seq, samples }, expected) => {
        fc.pre(expected !== seq);
        const { accepted, error } = verify('other', seal(seq, samples), [], expected);
        expect(accepted).toEqual([]);
        expect(error?.reason).toBe(seq < expected ? 'replay' : 'sequence');
      }),
      { numRuns: 2_000 },
    );
  });

  it('hello and entry decoders throw nothing but ProtocolError on random bodies', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: BATCH, maxLength: BATCH }), (bodies) => {
        for (const body of bodies) {
          stats.random++;
          const bytes = Buffer.from(body);
          const decoders = [
            () => decodeHello(bytes),
            () => readEntries(bytes, () => true),
            () => decodeMessage(bytes, 0, bytes.length, PEER, SELF),
          ];
          for (const decode of decoders) {
            try {
              decode();
            } catch (err) {
              expect(err).toBeInstanceOf(ProtocolError);
            }
          }
        }
      }),
      { numRuns: 400 },
    );
  });
});
