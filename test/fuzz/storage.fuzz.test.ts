// Fuzzing the storage boundary: random keys, random records, random operation shapes and damaged
// log files. Zero crashes, zero hangs, every rejection a typed NonstopError, and what is accepted
// reads back exactly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidKeyError, NonstopError, StorageCorruptError } from '../../src/core/errors.js';
import { FileStorage } from '../../src/storage/file/index.js';
import { decodeEntry, decodeSnapshot, encodeEntry, encodeSnapshot } from '../../src/storage/file/log-format.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261122);

/** An independent statement of the key rules, to check the implementation against. */
function keyIsValid(key: string): boolean {
  if (key.length < 1 || key.length > 512) return false;
  if (!/^[\x21-\x7e]+$/.test(key)) return false;
  return key.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

const keyArbitrary = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.array(fc.constantFrom('a', 'b', '.', '..', '', 'x-y', '~', '\\', '%2e', ' '), { maxLength: 6 }).map((p) => p.join('/')),
  fc.nat({ max: 700 }).map((n) => 'k'.repeat(n)),
);

let root: string;
let storage: FileStorage;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'nonstop-fuzz-'));
  storage = new FileStorage({ directory: root, snapshotEvery: 500 });
  await storage.start();
});
afterAll(async () => {
  await storage.close();
  rmSync(root, { recursive: true, force: true });
});

describe('FileStorage fuzzing', () => {
  it('10,000 random keys: accepted exactly when the rules allow, otherwise InvalidKeyError', async () => {
    const keys = fc.sample(keyArbitrary, { numRuns: 10_000, seed: SEED });
    let accepted = 0;
    for (let i = 0; i < keys.length; i += 500) {
      await Promise.all(
        keys.slice(i, i + 500).map(async (key, j) => {
          const value = new TextEncoder().encode(String(i + j));
          const outcomes = await Promise.allSettled([storage.put(key, value), storage.get(key), storage.append(key, [value])]);
          for (const o of outcomes) {
            if (o.status === 'rejected') {
              expect(o.reason, `key ${JSON.stringify(key)}`).toBeInstanceOf(InvalidKeyError);
              expect(keyIsValid(key), `rejected valid key ${JSON.stringify(key)}`).toBe(false);
            } else {
              expect(keyIsValid(key), `accepted invalid key ${JSON.stringify(key)}`).toBe(true);
            }
          }
          if (outcomes[0]!.status === 'fulfilled') accepted++;
        }),
      );
    }
    expect(accepted).toBeGreaterThan(100);
  });

  it('10,000 random records read back exactly (last write wins in call order)', async () => {
    const writes = fc.sample(
      fc.record({ key: fc.constantFrom(...Array.from({ length: 50 }, (_, i) => `r/${i}`)), value: fc.uint8Array({ maxLength: 2048 }) }),
      { numRuns: 10_000, seed: SEED + 1 },
    );
    const model = new Map<string, Uint8Array>();
    for (let i = 0; i < writes.length; i += 1000) {
      const batch = writes.slice(i, i + 1000);
      await Promise.all(batch.map((w) => storage.put(w.key, w.value)));
      for (const w of batch) model.set(w.key, w.value);
    }
    const reopened = new FileStorage({ directory: root });
    await reopened.start();
    try {
      for (const [key, value] of model) {
        expect(Buffer.from((await reopened.get(key))!.value).equals(Buffer.from(value)), key).toBe(true);
      }
    } finally {
      await reopened.close();
    }
  });

  it('random operation shapes into transact: typed errors only, nothing half-applied', async () => {
    const shapes = fc.sample(fc.array(fc.oneof(fc.anything(), fc.record({ op: fc.constantFrom('put', 'delete', 'check', 'append', 'trim', 'x'), key: keyArbitrary, stream: keyArbitrary, value: fc.oneof(fc.uint8Array(), fc.anything()), records: fc.anything(), expect: fc.anything(), before: fc.anything() }, { requiredKeys: ['op'] })), { maxLength: 4 }), { numRuns: 1000, seed: SEED + 2 });
    const before = await storage.list('');
    let ok = 0;
    const snapshot = async (): Promise<string> => JSON.stringify((await storage.list('')).map((r) => [r.key, r.version]));
    for (const ops of shapes) {
      const state = await snapshot();
      try {
        await storage.transact(ops as never);
        ok++;
      } catch (err) {
        expect(err, JSON.stringify(ops, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))).toBeInstanceOf(NonstopError);
        expect(await snapshot(), 'a rejected transaction changed records').toBe(state);
      }
    }
    expect(before.length).toBeGreaterThan(0);
    expect(ok).toBeGreaterThan(0);
  });

  it('damaged log entries and snapshots are rejected with StorageCorruptError, never returned as data', () => {
    const entry = encodeEntry({ id: 'w-1', txs: [{ ops: [{ op: 'put', key: 'a', value: new Uint8Array([1, 2, 3]) }, { op: 'append', stream: 's', records: [new Uint8Array([4])] }], fence: { key: 'f', epoch: 2 } }] });
    const snapshot = encodeSnapshot({ index: 7, image: { revision: 3, records: [['a', new Uint8Array([1]), 2]], streams: [['s', 0, [new Uint8Array([9])]]] } });
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(entry, snapshot),
        fc.array(fc.record({ at: fc.nat(), kind: fc.constantFrom('flip', 'cut', 'insert', 'delete'), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        (original, mutations) => {
          let bytes = Buffer.from(original);
          for (const m of mutations) {
            const at = m.at % (bytes.length + 1);
            if (m.kind === 'flip' && at < bytes.length) bytes[at] = bytes[at]! ^ (m.byte || 1);
            if (m.kind === 'cut') bytes = bytes.subarray(0, at);
            if (m.kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte]), bytes.subarray(at)]);
            if (m.kind === 'delete' && at < bytes.length) bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
          }
          const decode = original === entry ? decodeEntry : decodeSnapshot;
          try {
            decode(bytes, 'fuzz');
            accepted++;
            expect(bytes.equals(original), 'a damaged file was accepted').toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(StorageCorruptError);
          }
        },
      ),
      { numRuns: 10_000, seed: SEED + 3 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        for (const decode of [decodeEntry, decodeSnapshot]) {
          expect(() => decode(bytes, 'random')).toThrow(StorageCorruptError);
        }
      }),
      { numRuns: 5000, seed: SEED + 4 },
    );
    expect(accepted).toBeLessThan(10_000);
  });
});
