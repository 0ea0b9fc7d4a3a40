import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { nodeId } from '../../src/core/ids.js';
import { seededRandom } from '../../src/core/random.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../../src/transport/tcp/backoff.js';
import { resolveTcpOptions, type TcpTransportOptions } from '../../src/transport/tcp/options.js';
import { TcpTransport } from '../../src/transport/tcp/index.js';

const valid: TcpTransportOptions = {
  self: nodeId('node-a'),
  listen: { host: '127.0.0.1', port: 0 },
  resolve: () => undefined,
  secret: 'x'.repeat(32),
};

function optionRejected(options: unknown): string {
  try {
    new TcpTransport(options as TcpTransportOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as InvalidArgumentError).option;
  }
  throw new Error('expected InvalidArgumentError');
}

describe('TcpTransport options', () => {
  it('fills in defaults', () => {
    const resolved = resolveTcpOptions(valid);
    expect(resolved.maxFrameBytes).toBe(1_048_576);
    expect(resolved.handshakeTimeoutMs).toBe(5_000);
    expect(resolved.reconnect).toEqual(DEFAULT_BACKOFF);
    expect(resolved.secret?.toString()).toBe('x'.repeat(32));
    const transport = new TcpTransport(valid);
    expect(transport.capabilities).toEqual({ authenticated: true, crossProcess: true, maxFrameBytes: 1_048_576 });
    expect(transport.address).toBeUndefined();
  });

  it.each([
    ['self', { self: 'not a node' }],
    ['listen', { listen: undefined }],
    ['listen.host', { listen: { host: '', port: 1 } }],
    ['listen.port', { listen: { host: 'localhost', port: 70_000 } }],
    ['listen.port', { listen: { host: 'localhost', port: 1.5 } }],
    ['resolve', { resolve: 'nope' }],
    ['secret', { secret: 'too short' }],
    ['secret', { secret: Buffer.alloc(31) }],
    ['secret', { secret: undefined }],
    ['secret', { tls: { key: 'k', cert: 'c', ca: 'a' } }],
    ['secret', { secret: 42 }],
    ['tls.cert', { secret: undefined, tls: { key: 'k', cert: '', ca: 'a' } }],
    ['tls.ca', { secret: undefined, tls: { key: 'k', cert: 'c', ca: [] } }],
    ['maxFrameBytes', { maxFrameBytes: 100 }],
    ['maxFrameBytes', { maxFrameBytes: Number.NaN }],
    ['handshakeTimeoutMs', { handshakeTimeoutMs: 0 }],
    ['idleTimeoutMs', { idleTimeoutMs: -1 }],
    ['reconnect.jitter', { reconnect: { jitter: 2 } }],
    ['reconnect.multiplier', { reconnect: { multiplier: 0.5 } }],
    ['reconnect.maxDelayMs', { reconnect: { initialDelayMs: 500, maxDelayMs: 100 } }],
    ['clock', { clock: {} }],
    ['random', { random: {} }],
    ['onError', { onError: 'log' }],
  ])('rejects an invalid %s', (option, change) => {
    expect(optionRejected({ ...valid, ...change })).toBe(option);
  });

  it('computes an exponential, capped, jittered backoff', () => {
    const noJitter = { ...DEFAULT_BACKOFF, jitter: 0 };
    expect([1, 2, 3, 4].map((n) => backoffDelay(noJitter, n, seededRandom(1)))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(noJitter, 30, seededRandom(1))).toBe(DEFAULT_BACKOFF.maxDelayMs);
    const random = seededRandom(7);
    const delays = Array.from({ length: 200 }, () => backoffDelay(DEFAULT_BACKOFF, 3, random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(320);
    expect(Math.max(...delays)).toBeLessThanOrEqual(480);
    expect(new Set(delays).size).toBeGreaterThan(100);
  });
});
