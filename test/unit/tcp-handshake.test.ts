import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import { nodeId, type NodeId } from '../../src/core/ids.js';
import { FrameSealer, MAC_BYTES } from '../../src/transport/tcp/frame-auth.js';
import { FrameDecoder, FrameKind, type RawFrame } from '../../src/transport/tcp/frame-codec.js';
import {
  decodeHello,
  deriveLinkKeys,
  encodeHello,
  Handshake,
  NONCE_BYTES,
  type Established,
  type HandshakeOptions,
} from '../../src/transport/tcp/handshake.js';
import { thrown } from '../fixtures/thrown.js';

const A = nodeId('node-a');
const B = nodeId('node-b');
const secret = randomBytes(32);

function parse(bytes: Buffer, macBytes = MAC_BYTES): RawFrame {
  const frames: RawFrame[] = [];
  new FrameDecoder({ maxFrameBytes: 4096, macBytes }).push(bytes, (f) => frames.push(f));
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

interface Run {
  readonly initiator: Established;
  readonly acceptor: Established;
  /** Every frame the initiator sent, in order. */
  readonly initiatorFrames: Buffer[];
}

/** Runs a complete handshake in memory. */
function handshake(
  initiatorOptions: HandshakeOptions,
  acceptorOptions: HandshakeOptions,
  expected: NodeId = acceptorOptions.self,
): Run {
  const initiatorFrames: Buffer[] = [];
  const { handshake: initiator, hello } = Handshake.initiate(initiatorOptions, expected);
  initiatorFrames.push(hello);
  const acceptor = Handshake.accept(acceptorOptions);
  const answer = acceptor.receive(parse(hello));
  expect(answer.established).toBeUndefined();
  expect(answer.send).toHaveLength(1);
  const finish = initiator.receive(parse(answer.send[0]!));
  initiatorFrames.push(...finish.send);
  const done = acceptor.receive(parse(finish.send[0]!));
  return { initiator: finish.established!, acceptor: done.established!, initiatorFrames };
}


describe('TCP handshake', () => {
  it('authenticates both node ids and yields working sealers and openers in both directions', () => {
    const run = handshake({ self: A, secret }, { self: B, secret });
    expect(run.initiator.peer).toBe(B);
    expect(run.acceptor.peer).toBe(A);
    const toB = run.initiator.sealer.sealBytes(FrameKind.message, Buffer.from('hi b'));
    run.acceptor.opener.open(parse(toB));
    const toA = run.acceptor.sealer.sealBytes(FrameKind.message, Buffer.from('hi a'));
    run.initiator.opener.open(parse(toA));
    // The directions use different keys: a frame cannot be reflected back to its sender.
    expect(thrown(ProtocolError, () => run.initiator.opener.open(parse(run.initiator.sealer.sealBytes(FrameKind.message, Buffer.from('x'))))).reason).toBe(
      'bad-mac',
    );
  });

  it('derives different keys for every connection', () => {
    const first = handshake({ self: A, secret }, { self: B, secret });
    const second = handshake({ self: A, secret }, { self: B, secret });
    const frame = first.initiator.sealer.sealBytes(FrameKind.message, Buffer.from('{}'));
    // Same sequence number (1) expected on the second connection, but other keys.
    expect(thrown(ProtocolError, () => second.acceptor.opener.open(parse(frame))).reason).toBe('bad-mac');
  });

  it('rejects an initiator with a wrong secret at its hello, and an acceptor with a wrong secret at its answer', () => {
    const { hello } = Handshake.initiate({ self: A, secret: randomBytes(32) }, B);
    expect(thrown(ProtocolError, () => Handshake.accept({ self: B, secret }).receive(parse(hello))).reason).toBe('bad-mac');

    // An acceptor that does not know the secret cannot verify the hello; if it answers anyway, with
    // keys from its own secret, the initiator rejects the answer.
    const { handshake: initiator, hello: goodHello } = Handshake.initiate({ self: A, secret }, B);
    const initiatorHello = decodeHello(parse(goodHello).body);
    const answerHello = { node: B, peer: A, nonce: randomBytes(NONCE_BYTES) };
    const wrongKeys = deriveLinkKeys(randomBytes(32), initiatorHello, answerHello);
    const answer = new FrameSealer(wrongKeys.acceptorToInitiator).sealBytes(FrameKind.hello, encodeHello(answerHello));
    expect(thrown(ProtocolError, () => initiator.receive(parse(answer))).reason).toBe('bad-mac');
  });

  it('rejects a finish frame recorded on another connection', () => {
    const recorded = handshake({ self: A, secret }, { self: B, secret }).initiatorFrames;
    const acceptor = Handshake.accept({ self: B, secret });
    acceptor.receive(parse(recorded[0]!)); // a replayed hello is answered with a fresh nonce …
    expect(thrown(ProtocolError, () => acceptor.receive(parse(recorded[1]!))).reason).toBe('bad-mac'); // … so the old finish fails
  });

  it('rejects a hello meant for another node, an unexpected answering node and unexpected frames', () => {
    const { hello } = Handshake.initiate({ self: A, secret }, nodeId('node-c'));
    expect(thrown(ProtocolError, () => Handshake.accept({ self: B, secret }).receive(parse(hello))).reason).toBe('handshake');

    // A expects node-c at the address, but node-b answers.
    const { handshake: initiator } = Handshake.initiate({ self: A, secret }, nodeId('node-c'));
    const toB = Handshake.initiate({ self: A, secret }, B);
    const answerFromB = Handshake.accept({ self: B, secret }).receive(parse(toB.hello)).send[0]!;
    expect(thrown(ProtocolError, () => initiator.receive(parse(answerFromB))).reason).toBe('handshake');
    expect(toB.handshake.receive(parse(answerFromB)).established?.peer).toBe(B);

    const { hello: another } = Handshake.initiate({ self: A, secret }, B);
    const acceptor = Handshake.accept({ self: B, secret });
    acceptor.receive(parse(another));
    expect(thrown(ProtocolError, () => acceptor.receive(parse(another))).reason).toBe('handshake');
  });

  it('consults acceptPeer (mutual TLS) on both sides', () => {
    const acceptsOnlyC = { acceptPeer: (node: NodeId): boolean => node === 'node-c' };
    const { hello } = Handshake.initiate({ self: A, secret: undefined }, B);
    expect(thrown(ProtocolError, () => Handshake.accept({ self: B, secret: undefined, ...acceptsOnlyC }).receive(parse(hello, 0))).reason).toBe(
      'handshake',
    );
    const { handshake: initiator, hello: hello2 } = Handshake.initiate({ self: A, secret: undefined, ...acceptsOnlyC }, B);
    const answer = Handshake.accept({ self: B, secret: undefined }).receive(parse(hello2, 0));
    expect(thrown(ProtocolError, () => initiator.receive(parse(answer.send[0]!, 0))).reason).toBe('handshake');
  });

  it('encodes hellos canonically and rejects malformed ones', () => {
    const hello = { node: A, peer: B, nonce: randomBytes(NONCE_BYTES) };
    expect(decodeHello(encodeHello(hello))).toEqual(hello);
    const body = encodeHello(hello);
    expect(thrown(ProtocolError, () => decodeHello(body.subarray(0, body.length - 1))).reason).toBe('handshake');
    expect(thrown(ProtocolError, () => decodeHello(Buffer.concat([body, Buffer.of(0)]))).reason).toBe('handshake');
    expect(thrown(ProtocolError, () => decodeHello(Buffer.alloc(0))).reason).toBe('handshake');
    const badId = Buffer.from(body);
    badId[1] = '!'.charCodeAt(0);
    expect(thrown(ProtocolError, () => decodeHello(badId)).reason).toBe('handshake');
    const keys = deriveLinkKeys(secret, hello, { node: B, peer: A, nonce: randomBytes(NONCE_BYTES) });
    expect(keys.initiatorToAcceptor.equals(keys.acceptorToInitiator)).toBe(false);
  });
});
