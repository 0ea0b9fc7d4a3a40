import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ProtocolError, UnreachableError } from '../../src/core/errors.js';
import { nodeId, type NodeId } from '../../src/core/ids.js';
import type { NodeAddress } from '../../src/contracts/transport.js';
import { TcpTransport, type TcpTlsOptions } from '../../src/transport/tcp/index.js';

// Test certificates are made at test time with the openssl CLI (EC P-256, valid for one day).
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

const A = nodeId('node-a');
const B = nodeId('node-b');
const C = nodeId('node-c');

let dir = '';
const pem = (name: string): Buffer => readFileSync(join(dir, name));

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA and, for each name, a key and a certificate signed by it naming the node (CN and DNS SAN). */
function makeCa(ca: string, names: readonly string[]): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '1', '-subj', `/CN=${ca}`);
  for (const name of names) {
    const file = `${ca}-${name}`;
    writeFileSync(join(dir, `${file}.ext`), `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl('req', ...ec, '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', `${file}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
      '-out', `${file}.crt`, '-days', '1', '-extfile', `${file}.ext`);
  }
}

function tls(ca: string, name: string, trust = 'cluster-ca'): TcpTlsOptions {
  return { key: pem(`${ca}-${name}.key`), cert: pem(`${ca}-${name}.crt`), ca: pem(`${trust}.crt`) };
}

const transports: TcpTransport[] = [];
const addresses = new Map<NodeId, NodeAddress>();

async function node(self: NodeId, options: TcpTlsOptions): Promise<TcpTransport & { rejected: ProtocolError[] }> {
  const rejected: ProtocolError[] = [];
  const transport = new TcpTransport({
    self,
    listen: { host: '127.0.0.1', port: 0 },
    resolve: (peer) => addresses.get(peer),
    tls: options,
  });
  transports.push(transport);
  transport.on('frameRejected', (error) => rejected.push(error));
  await transport.start();
  return Object.assign(transport, { rejected });
}

describe.skipIf(!haveOpenssl)('TcpTransport with mutual TLS', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nonstop-tls-'));
    makeCa('cluster-ca', [A, B, C]);
    makeCa('rogue-ca', [B, C]);
  });

  afterEach(async () => {
    await Promise.all(transports.splice(0).map((t) => t.close()));
    addresses.clear();
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exchanges requests between nodes whose certificates name them', async () => {
    const a = await node(A, tls('cluster-ca', A));
    const b = await node(B, tls('cluster-ca', B));
    addresses.set(A, a.address!);
    addresses.set(B, b.address!);
    b.handle('test.whoami', (message) => `b sees ${message.from}`);
    a.handle('test.whoami', (message) => `a sees ${message.from}`);
    expect(a.capabilities.authenticated).toBe(true);
    expect(await a.request(B, 'test.whoami', null, { timeoutMs: 5_000 })).toBe('b sees node-a');
    expect(await b.request(A, 'test.whoami', null, { timeoutMs: 5_000 })).toBe('a sees node-b');
    expect([...a.rejected, ...b.rejected]).toEqual([]);
  });

  it('rejects a client whose certificate is signed by an untrusted CA', async () => {
    const a = await node(A, tls('cluster-ca', A));
    addresses.set(A, a.address!);
    let calls = 0;
    a.handle('test.secret', () => ++calls);
    const rogue = await node(B, tls('rogue-ca', B, 'cluster-ca'));
    await expect(rogue.request(A, 'test.secret', null, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(UnreachableError);
    await vi.waitFor(() => expect(a.rejected.map((e) => e.reason)).toContain('handshake'));
    expect(calls).toBe(0);
  });

  it('refuses to talk to a server whose certificate is signed by an untrusted CA', async () => {
    const a = await node(A, tls('cluster-ca', A));
    const rogue = await node(B, tls('rogue-ca', B, 'cluster-ca'));
    addresses.set(B, rogue.address!);
    let calls = 0;
    rogue.handle('test.secret', () => ++calls);
    await expect(a.request(B, 'test.secret', null, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(UnreachableError);
    expect(calls).toBe(0);
  });

  it('rejects a trusted certificate that names another node than the one claimed, on both sides', async () => {
    const a = await node(A, tls('cluster-ca', A));
    addresses.set(A, a.address!);
    let calls = 0;
    a.handle('test.secret', () => ++calls);
    // node-c's genuine certificate, used by a transport that claims to be node-b.
    const liar = await node(B, tls('cluster-ca', C));
    addresses.set(B, liar.address!);
    liar.handle('test.secret', () => ++calls);

    await expect(liar.request(A, 'test.secret', null, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(UnreachableError);
    await vi.waitFor(() => expect(a.rejected.map((e) => e.reason)).toEqual(['handshake']));
    expect(a.rejected[0]!.message).toMatch(/does not name node node-b/);

    await expect(a.request(B, 'test.secret', null, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(UnreachableError);
    expect(calls).toBe(0);
  });
});

describe.skipIf(haveOpenssl)('TcpTransport with mutual TLS (skipped)', () => {
  it('needs the openssl CLI to make test certificates', () => undefined);
});
