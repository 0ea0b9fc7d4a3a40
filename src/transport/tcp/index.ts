/**
 * The TCP transport (`nonstop/transport/tcp`).
 *
 * @module
 */
export { TcpTransport } from './tcp-transport.js';
export type { TcpTransportOptions } from './options.js';
export type { TcpTlsOptions } from './link-security.js';
export type { BackoffOptions } from './backoff.js';
