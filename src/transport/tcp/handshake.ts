/**
 * The connection handshake: both sides name themselves and the peer they expect, each contributes
 * a fresh 32-byte nonce, and both derive the connection's two direction keys from the cluster
 * secret and the whole exchange:
 *
 * ```
 * initiator → acceptor   hello  {initiator id, acceptor id, nonce I}   MAC: HMAC(secret, "hello" label)
 * acceptor → initiator   hello  {acceptor id, initiator id, nonce A}   MAC: key A→I, seq 0
 * initiator → acceptor   finish {}                                      MAC: key I→A, seq 0
 *
 * transcript = body(hello I) ‖ body(hello A)
 * key I→A    = HMAC-SHA256(secret, "nonstop/tcp/1 i2a" ‖ 0 ‖ transcript)
 * key A→I    = HMAC-SHA256(secret, "nonstop/tcp/1 a2i" ‖ 0 ‖ transcript)
 * ```
 *
 * The acceptor's hello proves it knows the secret and answers this initiator's nonce; the
 * initiator's finish proves the same the other way round. Both node ids are in the transcript,
 * so every later frame authenticates its sender's id, and keys never repeat across connections,
 * so a frame recorded on one connection is rejected on any other.
 *
 * Under mutual TLS there is no secret: frames carry no MAC, and the connection checks each
 * claimed id against the peer's certificate through {@link HandshakeOptions.acceptPeer}.
 *
 * This module is pure: it turns received frames into frames to send, without sockets or timers.
 *
 * @module
 */
import { createHmac, randomBytes } from 'node:crypto';
import { ProtocolError } from '../../core/errors.js';
import { isNodeId, type NodeId } from '../../core/ids.js';
import { FrameOpener, FrameSealer } from './frame-auth.js';
import { FrameKind, type RawFrame } from './frame-codec.js';

/** Bytes of each side's nonce. */
export const NONCE_BYTES = 32;

/** What one side says in its hello. */
export interface Hello {
  /** The sender's node id. */
  readonly node: NodeId;
  /** The node id the sender expects at the other end. */
  readonly peer: NodeId;
  /** The sender's fresh nonce ({@link NONCE_BYTES} bytes). */
  readonly nonce: Buffer;
}

/** Encodes a hello body: `u8 len ‖ node ‖ u8 len ‖ peer ‖ nonce`. */
export function encodeHello(hello: Hello): Buffer {
  const node = Buffer.from(hello.node, 'latin1');
  const peer = Buffer.from(hello.peer, 'latin1');
  return Buffer.concat([Buffer.of(node.length), node, Buffer.of(peer.length), peer, hello.nonce]);
}

/**
 * Decodes a hello body.
 *
 * @throws {@link ProtocolError} `handshake` when the body is not a well-formed hello
 */
export function decodeHello(body: Buffer): Hello {
  const nodeLength = body[0] ?? 0;
  const peerLength = body[1 + nodeLength] ?? 0;
  if (body.length !== 2 + nodeLength + peerLength + NONCE_BYTES) {
    throw new ProtocolError('handshake', 'malformed hello');
  }
  const node = body.toString('latin1', 1, 1 + nodeLength);
  const peer = body.toString('latin1', 2 + nodeLength, 2 + nodeLength + peerLength);
  if (!isNodeId(node) || !isNodeId(peer)) throw new ProtocolError('handshake', 'hello carries an invalid node id');
  return { node, peer, nonce: Buffer.from(body.subarray(2 + nodeLength + peerLength)) };
}

/** The key that authenticates initiator hellos: proves knowledge of the secret, not freshness. */
export function helloKey(secret: Buffer): Buffer {
  return createHmac('sha256', secret).update('nonstop/tcp/1 hello').digest();
}

/** The two direction keys of one connection. */
export interface LinkKeys {
  /** Authenticates frames from the initiator to the acceptor. */
  readonly initiatorToAcceptor: Buffer;
  /** Authenticates frames from the acceptor to the initiator. */
  readonly acceptorToInitiator: Buffer;
}

/** Derives a connection's keys from the secret and both hellos (see the module documentation). */
export function deriveLinkKeys(secret: Buffer, initiator: Hello, acceptor: Hello): LinkKeys {
  const transcript = Buffer.concat([encodeHello(initiator), encodeHello(acceptor)]);
  const key = (label: string): Buffer =>
    createHmac('sha256', secret).update(`nonstop/tcp/1 ${label}\0`).update(transcript).digest();
  return { initiatorToAcceptor: key('i2a'), acceptorToInitiator: key('a2i') };
}

/** Options of {@link Handshake}. */
export interface HandshakeOptions {
  /** This node. */
  readonly self: NodeId;
  /** The cluster secret, or `undefined` under mutual TLS (frames then carry no MAC). */
  readonly secret: Buffer | undefined;
  /** Extra check of the peer's claimed id (mutual TLS: it must match the certificate). */
  readonly acceptPeer?: (node: NodeId) => boolean;
}

/** An authenticated connection's state, once the handshake is done. */
export interface Established {
  /** The peer's authenticated node id. */
  readonly peer: NodeId;
  /** Seals the frames this side sends. */
  readonly sealer: FrameSealer;
  /** Opens the frames this side receives. */
  readonly opener: FrameOpener;
}

/** What the connection must do after a handshake step. */
export interface HandshakeStep {
  /** Frames to send, in order. */
  readonly send: readonly Buffer[];
  /** Set when the handshake is complete. */
  readonly established?: Established;
}

type State =
  | { readonly name: 'initiated'; readonly hello: Hello }
  | { readonly name: 'awaiting-hello' }
  | { readonly name: 'awaiting-finish'; readonly peer: NodeId; readonly sealer: FrameSealer; readonly opener: FrameOpener }
  | { readonly name: 'done' };

/** The handshake state machine of one connection, for either role. */
export class Handshake {
  readonly #options: HandshakeOptions;
  #state: State;

  private constructor(options: HandshakeOptions, state: State) {
    this.#options = options;
    this.#state = state;
  }

  /** Starts the initiator side: returns the state machine and the hello frame to send first. */
  static initiate(options: HandshakeOptions, peer: NodeId): { handshake: Handshake; hello: Buffer } {
    const hello: Hello = { node: options.self, peer, nonce: randomBytes(NONCE_BYTES) };
    const key = options.secret === undefined ? undefined : helloKey(options.secret);
    const frame = new FrameSealer(key).sealBytes(FrameKind.hello, encodeHello(hello));
    return { handshake: new Handshake(options, { name: 'initiated', hello }), hello: frame };
  }

  /** Starts the acceptor side, which waits for the initiator's hello. */
  static accept(options: HandshakeOptions): Handshake {
    return new Handshake(options, { name: 'awaiting-hello' });
  }

  /**
   * Processes one received frame.
   *
   * @throws {@link ProtocolError} `handshake` (unexpected frame, wrong or invalid node id,
   *   certificate mismatch) or `bad-mac` (the peer does not know the secret)
   */
  receive(frame: RawFrame): HandshakeStep {
    const state = this.#state;
    switch (state.name) {
      case 'initiated':
        return this.#onAcceptorHello(state.hello, frame);
      case 'awaiting-hello':
        return this.#onInitiatorHello(frame);
      case 'awaiting-finish':
        return this.#onFinish(state, frame);
      case 'done':
        throw new ProtocolError('handshake', 'handshake already complete');
    }
  }

  #onInitiatorHello(frame: RawFrame): HandshakeStep {
    const { self, secret } = this.#options;
    expectKind(frame, FrameKind.hello);
    new FrameOpener(secret === undefined ? undefined : helloKey(secret)).open(frame);
    const initiator = decodeHello(frame.body);
    if (initiator.peer !== self) {
      throw new ProtocolError('handshake', `peer ${initiator.node} expected node ${initiator.peer}, this is ${self}`);
    }
    this.#checkPeer(initiator.node);
    const hello: Hello = { node: self, peer: initiator.node, nonce: randomBytes(NONCE_BYTES) };
    const keys = secret === undefined ? undefined : deriveLinkKeys(secret, initiator, hello);
    const sealer = new FrameSealer(keys?.acceptorToInitiator);
    const opener = new FrameOpener(keys?.initiatorToAcceptor);
    this.#state = { name: 'awaiting-finish', peer: initiator.node, sealer, opener };
    return { send: [sealer.sealBytes(FrameKind.hello, encodeHello(hello))] };
  }

  #onAcceptorHello(hello: Hello, frame: RawFrame): HandshakeStep {
    const { self, secret } = this.#options;
    expectKind(frame, FrameKind.hello);
    const acceptor = decodeHello(frame.body);
    if (acceptor.node !== hello.peer || acceptor.peer !== self) {
      throw new ProtocolError(
        'handshake',
        `expected node ${hello.peer} answering ${self}, got ${acceptor.node} answering ${acceptor.peer}`,
      );
    }
    const keys = secret === undefined ? undefined : deriveLinkKeys(secret, hello, acceptor);
    const opener = new FrameOpener(keys?.acceptorToInitiator);
    opener.open(frame);
    this.#checkPeer(acceptor.node);
    const sealer = new FrameSealer(keys?.initiatorToAcceptor);
    this.#state = { name: 'done' };
    return { send: [sealer.sealBytes(FrameKind.finish, Buffer.alloc(0))], established: { peer: acceptor.node, sealer, opener } };
  }

  #onFinish(state: Extract<State, { name: 'awaiting-finish' }>, frame: RawFrame): HandshakeStep {
    expectKind(frame, FrameKind.finish);
    state.opener.open(frame);
    if (frame.body.length !== 0) throw new ProtocolError('handshake', 'finish frame has a body');
    this.#state = { name: 'done' };
    return { send: [], established: { peer: state.peer, sealer: state.sealer, opener: state.opener } };
  }

  #checkPeer(node: NodeId): void {
    if (this.#options.acceptPeer && !this.#options.acceptPeer(node)) {
      throw new ProtocolError('handshake', `peer certificate does not name node ${node}`);
    }
  }
}

function expectKind(frame: RawFrame, kind: FrameKind): void {
  if (frame.kind !== kind) throw new ProtocolError('handshake', `unexpected frame kind ${frame.kind} during handshake`);
}
