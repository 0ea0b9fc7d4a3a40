import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ProtocolError } from '../../src/core/errors.js';
import { nodeId } from '../../src/core/ids.js';
import type { JsonValue } from '../../src/core/json.js';
import type { WireMessage } from '../../src/transport/shared/wire-message.js';
import { decodeMessage, EncodedMessage, MESSAGE_HEADER_BYTES } from '../../src/transport/tcp/message-codec.js';
import { thrown } from '../fixtures/thrown.js';

const PEER = nodeId('node-a');
const SELF = nodeId('node-b');

function bytesOf(message: EncodedMessage): Buffer {
  const bytes = Buffer.alloc(message.size + 6, 0xee); // room on both sides: writeTo must stay in its range
  message.writeTo(bytes, 3);
  expect(bytes.subarray(0, 3).every((b) => b === 0xee)).toBe(true);
  expect(bytes.subarray(3 + message.size).every((b) => b === 0xee)).toBe(true);
  return bytes.subarray(3, 3 + message.size);
}

function decode(bytes: Buffer): WireMessage {
  return decodeMessage(bytes, 0, bytes.length, PEER, SELF);
}


describe('TCP message codec', () => {
  it('round-trips every kind, with the authenticated peer as sender and this node as receiver', () => {
    const payload: JsonValue = { text: 'grüße 🚀', list: [1, -2.5, true, null], nested: { a: '' } };
    expect(decode(bytesOf(EncodedMessage.send('acct.note', payload, 4096)))).toEqual({
      kind: 'send', from: PEER, to: SELF, type: 'acct.note', payload,
    });
    expect(decode(bytesOf(EncodedMessage.request(2 ** 40, 'acct.get', payload, 1_500.5, 4096)))).toEqual({
      kind: 'request', id: 2 ** 40, from: PEER, to: SELF, type: 'acct.get', payload, timeoutMs: 1_500.5,
    });
    expect(decode(bytesOf(EncodedMessage.reply(7, { ok: true, payload: 'done' }, 4096)))).toEqual({
      kind: 'reply', id: 7, from: PEER, to: SELF, payload: 'done',
    });
    const failure = { code: 'ERR_LOCKED', message: 'key a is locked — by tx 9', retryable: true };
    expect(decode(bytesOf(EncodedMessage.reply(8, { ok: false, failure }, 4096)))).toEqual({
      kind: 'error', id: 8, from: PEER, to: SELF, ...failure,
    });
    expect(decode(bytesOf(EncodedMessage.reply(9, { ok: false, failure: { ...failure, retryable: false } }, 4096)))).toMatchObject({
      retryable: false,
    });
  });

  it('rejects bad payloads and oversized messages at the call with InvalidArgumentError naming payload', () => {
    const bad = (): unknown => EncodedMessage.send('acct.note', { when: new Date() } as unknown as JsonValue, 4096);
    expect(bad).toThrow(InvalidArgumentError);
    expect(bad).toThrow(/payload/);
    const big = 'x'.repeat(100);
    expect(() => EncodedMessage.request(1, 'acct.get', big, 1000, MESSAGE_HEADER_BYTES + 8 + 101)).toThrow(/more than the limit/);
    // Exactly at the limit is accepted: header + type + the JSON text (quotes included).
    expect(EncodedMessage.request(1, 'acct.get', big, 1000, MESSAGE_HEADER_BYTES + 8 + 102).size).toBe(MESSAGE_HEADER_BYTES + 8 + 102);
  });

  it('answers with an error reply when the handler result cannot be encoded', () => {
    const reply = decode(bytesOf(EncodedMessage.reply(3, { ok: true, payload: [Number.NaN] }, 4096)));
    expect(reply).toMatchObject({ kind: 'error', id: 3, code: 'ERR_INVALID_ARGUMENT', retryable: false });
    const tooBig = decode(bytesOf(EncodedMessage.reply(4, { ok: true, payload: 'y'.repeat(500) }, 200)));
    expect(tooBig).toMatchObject({ kind: 'error', id: 4, code: 'ERR_INVALID_ARGUMENT' });
  });

  it('rejects every malformed field with ProtocolError malformed', () => {
    const request = bytesOf(EncodedMessage.request(5, 'acct.get', { a: 1 }, 1000, 4096));
    const error = bytesOf(EncodedMessage.reply(5, { ok: false, failure: { code: 'ERR_X', message: 'm', retryable: false } }, 4096));
    const send = bytesOf(EncodedMessage.send('acct.note', 1, 4096));
    const reply = bytesOf(EncodedMessage.reply(5, { ok: true, payload: 1 }, 4096));
    const edit = (bytes: Buffer, change: (b: Buffer) => void): Buffer => {
      const copy = Buffer.from(bytes);
      change(copy);
      return copy;
    };
    const cases: [string, Buffer, RegExp][] = [
      ['short', request.subarray(0, MESSAGE_HEADER_BYTES - 1), /shorter than its header/],
      ['kind', edit(request, (b) => (b[0] = 9)), /unknown message kind 9/],
      ['flags on a request', edit(request, (b) => (b[1] = 1)), /flags/],
      ['unknown flag on an error', edit(error, (b) => (b[1] = 2)), /flags/],
      ['head overrun', edit(request, (b) => (b[2] = 255)), /head: overruns/],
      ['id zero', edit(request, (b) => b.writeDoubleBE(0, 3)), /id: not a positive integer/],
      ['id fraction', edit(reply, (b) => b.writeDoubleBE(1.5, 3)), /id: not a positive integer/],
      ['id beyond 2^53', edit(error, (b) => b.writeDoubleBE(2 ** 53, 3)), /id: not a positive integer/],
      ['id on a send', edit(send, (b) => b.writeDoubleBE(1, 3)), /id: set on a one-way message/],
      ['timeout zero', edit(request, (b) => b.writeDoubleBE(0, 11)), /timeoutMs: not a positive number/],
      ['timeout NaN', edit(request, (b) => b.writeDoubleBE(Number.NaN, 11)), /timeoutMs: not a positive number/],
      ['timeout infinite', edit(request, (b) => b.writeDoubleBE(Number.POSITIVE_INFINITY, 11)), /timeoutMs/],
      ['timeout on a reply', edit(reply, (b) => b.writeDoubleBE(5, 11)), /timeoutMs: set on a message that is not a request/],
      ['bad type', edit(request, (b) => (b[MESSAGE_HEADER_BYTES] = 0x41)), /type: not a valid message type/],
      ['bad code', edit(error, (b) => (b[MESSAGE_HEADER_BYTES] = 0x61)), /code: not an error code/],
      ['payload not JSON', edit(request, (b) => (b[b.length - 1] = 0x7b)), /payload: not JSON/],
      ['empty payload', request.subarray(0, MESSAGE_HEADER_BYTES + 8), /payload: not JSON/],
    ];
    for (const [name, bytes, message] of cases) {
      const err = thrown(ProtocolError, () => decode(bytes));
      expect(err.reason, name).toBe('malformed');
      expect(err.message, name).toMatch(message);
    }
    // A head on a reply, and an over-long error message.
    const withHead = Buffer.concat([reply.subarray(0, MESSAGE_HEADER_BYTES), Buffer.from('x1')]);
    withHead[2] = 1;
    expect(thrown(ProtocolError, () => decode(withHead)).message).toMatch(/head: set on a reply/);
    const long = bytesOf(EncodedMessage.reply(5, { ok: false, failure: { code: 'ERR_X', message: 'm'.repeat(1001), retryable: false } }, 4096));
    expect(thrown(ProtocolError, () => decode(long)).message).toMatch(/message: too long/);
  });
});
