/**
 * How links are secured: HMAC-SHA256 frames under a cluster secret over plain TCP, or mutual TLS
 * where each node's certificate names its node id.
 *
 * @module
 */
import { createServer as createNetServer, connect as netConnect, type Server, type Socket } from 'node:net';
import {
  connect as tlsConnect,
  createSecureContext,
  createServer as createTlsServer,
  type PeerCertificate,
  type SecureContext,
  type TLSSocket,
} from 'node:tls';
import { ProtocolError } from '../../core/errors.js';
import type { NodeId } from '../../core/ids.js';
import type { NodeAddress } from '../../contracts/transport.js';

/** PEM material for mutual TLS. */
export interface TcpTlsOptions {
  /** This node's private key (PEM). */
  readonly key: string | Buffer;
  /** This node's certificate (PEM); its common name or a DNS subject alternative name must be the node id. */
  readonly cert: string | Buffer;
  /** The certificate authorities that sign the cluster's node certificates (PEM). */
  readonly ca: string | Buffer | readonly (string | Buffer)[];
}

/** What a listener reports to the transport. */
export interface ListenerCallbacks {
  /** A socket was accepted (under TLS: after a successful TLS handshake). */
  readonly onSocket: (socket: Socket) => void;
  /** A TLS handshake with a connecting peer failed. */
  readonly onRejected: (error: ProtocolError, remote: string) => void;
}

/** The security scheme of a transport's links. */
export interface LinkSecurity {
  /** The cluster secret for HMAC frames, `undefined` under mutual TLS (frames carry no MAC). */
  readonly secret: Buffer | undefined;
  /** Creates the listening server. */
  createServer(callbacks: ListenerCallbacks): Server;
  /** Opens a socket to `peer` at `address` (the host name is resolved by the OS, every time). */
  connect(address: NodeAddress, peer: NodeId): Socket;
  /** The extra check of a peer's claimed node id on `socket`, if the scheme has one. */
  peerCheck(socket: Socket): ((node: NodeId) => boolean) | undefined;
}

/** Plain TCP; every frame carries an HMAC under keys derived from `secret`. */
export class HmacSecurity implements LinkSecurity {
  /** @inheritDoc */
  readonly secret: Buffer;

  constructor(secret: Buffer) {
    this.secret = secret;
  }

  /** @inheritDoc */
  createServer(callbacks: ListenerCallbacks): Server {
    return createNetServer(callbacks.onSocket);
  }

  /** @inheritDoc */
  connect(address: NodeAddress): Socket {
    return netConnect({ host: address.host, port: address.port });
  }

  /** @inheritDoc */
  peerCheck(): undefined {
    return undefined;
  }
}

/**
 * Mutual TLS: both sides present certificates signed by `ca`, and a peer's certificate must name
 * the node id it claims (common name or DNS subject alternative name).
 *
 * Note: the TLS handshake of an accepted connection is bounded by Node's own `handshakeTimeout`
 * (real time); the rest of the handshake runs on the transport's clock.
 */
export class MutualTlsSecurity implements LinkSecurity {
  /** @inheritDoc */
  readonly secret: undefined = undefined;
  readonly #material: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer | (string | Buffer)[] };
  readonly #context: SecureContext;
  readonly #handshakeTimeoutMs: number;

  constructor(options: TcpTlsOptions, handshakeTimeoutMs: number) {
    const { key, cert, ca } = options;
    this.#material = { key, cert, ca: Array.isArray(ca) ? [...ca] : (ca as string | Buffer) };
    this.#context = createSecureContext(this.#material);
    this.#handshakeTimeoutMs = handshakeTimeoutMs;
  }

  /** @inheritDoc */
  createServer(callbacks: ListenerCallbacks): Server {
    const server = createTlsServer(
      {
        ...this.#material,
        requestCert: true,
        rejectUnauthorized: true,
        handshakeTimeout: this.#handshakeTimeoutMs,
      },
      callbacks.onSocket,
    );
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
      callbacks.onRejected(new ProtocolError('handshake', `TLS handshake failed: ${err.message}`, { cause: err }), remote);
    });
    return server;
  }

  /** @inheritDoc */
  connect(address: NodeAddress, peer: NodeId): Socket {
    return tlsConnect({
      host: address.host,
      port: address.port,
      secureContext: this.#context,
      checkServerIdentity: (_host, cert) =>
        certificateNames(cert).includes(peer)
          ? undefined
          : new ProtocolError('handshake', `server certificate does not name node ${peer}`),
    });
  }

  /** @inheritDoc */
  peerCheck(socket: Socket): (node: NodeId) => boolean {
    const tls = socket as TLSSocket;
    return (node) => tls.authorized && certificateNames(tls.getPeerCertificate()).includes(node);
  }
}

/** The names a certificate binds: its common name(s) and DNS subject alternative names. */
export function certificateNames(cert: PeerCertificate | undefined): string[] {
  const names: string[] = [];
  const cn = cert?.subject?.CN;
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...cn);
  for (const entry of (cert?.subjectaltname ?? '').split(',')) {
    const trimmed = entry.trim();
    if (trimmed.startsWith('DNS:')) names.push(trimmed.slice(4));
  }
  return names;
}
