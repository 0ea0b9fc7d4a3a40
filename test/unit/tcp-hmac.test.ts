import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HMAC_BYTES, HmacSha256 } from '../../src/transport/tcp/hmac.js';

describe('HmacSha256', () => {
  it('equals createHmac for any key up to 64 bytes and any message, before and after the scratch grows', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 2_000 }), fc.integer({ min: 60_000, max: 70_000 })), {
          minLength: 1,
          maxLength: 6,
        }),
        (key, messages) => {
          const hmac = new HmacSha256(Buffer.from(key));
          for (const message of messages) {
            const data = typeof message === 'number' ? Buffer.alloc(message, message & 0xff) : Buffer.from(message);
            const expected = createHmac('sha256', Buffer.from(key)).update(data).digest();
            const out = Buffer.alloc(HMAC_BYTES + 3);
            hmac.sign(data, out, 3);
            expect(out.subarray(3)).toEqual(expected);
            expect(hmac.verify(data, expected)).toBe(true);
            const wrong = Buffer.from(expected);
            wrong[data.length % HMAC_BYTES]! ^= 0x80;
            expect(hmac.verify(data, wrong)).toBe(false);
            expect(hmac.verify(data, expected.subarray(1))).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses keys longer than a SHA-256 block', () => {
    expect(() => new HmacSha256(Buffer.alloc(65))).toThrow(RangeError);
  });
});
