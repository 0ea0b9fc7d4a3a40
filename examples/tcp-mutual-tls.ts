/**
 * The TCP transport with mutual TLS instead of a shared secret: every node presents a certificate
 * signed by the cluster's CA whose common name (or DNS subject alternative name) is its node id,
 * so a peer's `from` is proven by its certificate.
 *
 * The example makes a throw-away CA and node certificates with the `openssl` command-line tool
 * (valid for one day, in a temporary directory). In production they come from your PKI; the
 * transport only needs the PEM text (`TcpTlsOptions`).
 *
 * Run: npx tsx examples/tcp-mutual-tls.ts   (after npm run build; needs openssl on the PATH)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeId, type NodeAddress, type NodeId } from 'nonstop';
import { TcpTransport, type TcpTlsOptions } from 'nonstop/transport/tcp';

if (spawnSync('openssl', ['version']).status !== 0) {
  console.log('openssl is not installed: this example needs it to make test certificates; nothing to do');
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'nonstop-mtls-'));
const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA, and for each node a key and a certificate signed by it that names the node. */
function makeCa(ca: string, nodes: readonly string[]): void {
  openssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '1', '-subj', `/CN=${ca}`);
  for (const node of nodes) {
    writeFileSync(join(dir, `${ca}-${node}.ext`), `subjectAltName=DNS:${node}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl('req', ...ec, '-keyout', `${ca}-${node}.key`, '-out', `${ca}-${node}.csr`, '-subj', `/CN=${node}`);
    openssl('x509', '-req', '-in', `${ca}-${node}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
      '-out', `${ca}-${node}.crt`, '-days', '1', '-extfile', `${ca}-${node}.ext`);
  }
}

/** What a node needs: its own key and certificate, and the CA it trusts for its peers. */
function tlsFor(ca: string, node: string): TcpTlsOptions {
  const pem = (file: string): Buffer => readFileSync(join(dir, file));
  return { key: pem(`${ca}-${node}.key`), cert: pem(`${ca}-${node}.crt`), ca: pem('cluster-ca.crt') };
}

const addresses = new Map<NodeId, NodeAddress>();
const transports: TcpTransport[] = [];
async function startNode(name: string, tls: TcpTlsOptions): Promise<TcpTransport> {
  const transport = new TcpTransport({ self: nodeId(name), listen: { host: '127.0.0.1', port: 0 }, resolve: (node) => addresses.get(node), tls });
  transport.on('frameRejected', (error, peer) => console.log(`  ${name} rejected a connection from ${peer}: ${error.reason}`));
  await transport.start();
  addresses.set(transport.self, transport.address!);
  transports.push(transport);
  return transport;
}

try {
  makeCa('cluster-ca', ['alpha', 'beta']);
  makeCa('rogue-ca', ['beta']); // a certificate naming beta, but not signed by the cluster's CA
  const alpha = await startNode('alpha', tlsFor('cluster-ca', 'alpha'));
  const beta = await startNode('beta', tlsFor('cluster-ca', 'beta'));
  console.log(`alpha authenticated: ${alpha.capabilities.authenticated}`);
  alpha.handle('demo.whoami', (message) => `alpha sees ${message.from}, proven by its certificate`);
  console.log(`beta → alpha: ${JSON.stringify(await beta.request(alpha.self, 'demo.whoami', null, { timeoutMs: 2_000 }))}`);

  await beta.close();
  addresses.delete(beta.self);
  const impostor = await startNode('beta', tlsFor('rogue-ca', 'beta'));
  try {
    await impostor.request(alpha.self, 'demo.whoami', null, { timeoutMs: 2_000 });
    console.log('unexpected: the impostor got an answer');
    process.exitCode = 1;
  } catch (err) {
    console.log(`impostor → alpha failed as it should: ${(err as Error).message}`);
  }
} finally {
  await Promise.all(transports.map((t) => t.close()));
  rmSync(dir, { recursive: true, force: true });
}
