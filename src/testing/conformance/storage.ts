/**
 * The Storage conformance suite: the one set of tests every storage adapter must pass unchanged
 * (memory, file, and later etcd and PostgreSQL), exported so that a host project that writes its
 * own adapter proves it with the same tests.
 *
 * ```ts
 * // test/my-storage.test.ts (vitest)
 * import { describe, it } from 'vitest';
 * import { storageConformance } from 'nonstop/testing';
 * storageConformance({ describe, it }, { name: 'MyStorage', create: () => new MyStorage(...) });
 * ```
 *
 * @module
 */
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromUtf8, utf8 } from '../../core/codec.js';
import { ClosedError, ConflictError, FencedError, InvalidArgumentError, InvalidKeyError, NonstopError } from '../../core/errors.js';
import type { JsonValue } from '../../core/json.js';
import type { Storage, WatchEvent } from '../../contracts/storage.js';
import { raiseFence } from '../../storage/fence.js';
import { startChild } from './child-process.js';
import type { ConformanceRunner } from './runner.js';

/** Test hooks a multi-process factory wires into its adapter, where the adapter supports them. */
export interface StorageTestHooks {
  /**
   * Called synchronously inside the adapter's critical section of a write (for FileStorage: with
   * the commit lock held, just before the log entry is linked).
   */
  readonly beforeCommit?: () => void;
}

/**
 * The function a multi-process factory module exports as `createStorage`: opens (without
 * starting) the storage at a shared location. Return `hooksSupported: false` on the storage's
 * factory module when the adapter has no critical-section hook.
 */
export type StorageProcessFactory = (location: JsonValue, hooks: StorageTestHooks) => Storage | Promise<Storage>;

/** How the suite makes storages. */
export interface StorageConformanceOptions {
  /** Shown in the test names. */
  readonly name: string;
  /** A fresh, empty, not yet started storage for one test. The suite starts and closes it. */
  create(): Storage | Promise<Storage>;
  /**
   * For adapters with `capabilities.multiProcess`: how several OS processes open one storage.
   * Without it, the multi-process cases are skipped (and say so).
   */
  readonly processes?: {
    /** Absolute path of a module that exports `createStorage` (a {@link StorageProcessFactory}). */
    readonly module: string;
    /** A fresh shared location (for example `{ directory }`), passed to `createStorage`. */
    location(): JsonValue | Promise<JsonValue>;
    /** Whether `createStorage` wires `beforeCommit` (default `true`). */
    readonly hooksSupported?: boolean;
    /**
     * How long a competing writer waits for a holder stopped inside its critical section before
     * it proceeds, in ms (FileStorage: `lockWaitMs`). When given, the stop case also checks that
     * the competing write really waited, proving the child was stopped inside the section.
     */
    readonly holderWaitMs?: number;
  };
}

/** Registers the Storage conformance cases with the host project's test runner. */
export function storageConformance(runner: ConformanceRunner, options: StorageConformanceOptions): void {
  const { describe, it } = runner;
  const open = async (): Promise<Storage> => {
    const storage = await options.create();
    await storage.start();
    return storage;
  };
  const withStorage = (name: string, body: (s: Storage) => Promise<void>, timeoutMs?: number): void => {
    it(
      name,
      async () => {
        const s = await open();
        try {
          await body(s);
        } finally {
          await s.close();
        }
      },
      timeoutMs,
    );
  };

  describe(`Storage conformance: ${options.name}`, () => {
    describe('records', () => {
      withStorage('reads back what it wrote, with the version put returned', async (s) => {
        assert.equal(await s.get('a/missing'), undefined);
        const v = await s.put('a/b', utf8('hello'));
        const r = await s.get('a/b');
        assert.ok(r);
        assert.equal(r.key, 'a/b');
        assert.equal(fromUtf8(r.value), 'hello');
        assert.equal(r.version, v);
        assert.ok(Number.isSafeInteger(v) && v >= 1);
      });

      withStorage('versions strictly increase for a key, across delete and re-create', async (s) => {
        const seen: number[] = [];
        seen.push(await s.put('k', utf8('1')));
        seen.push(await s.put('k', utf8('2')));
        assert.equal(await s.delete('k'), true);
        assert.equal(await s.get('k'), undefined);
        seen.push(await s.put('k', utf8('3'), { expect: 'absent' }));
        for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `versions ${seen.join(', ')}`);
      });

      withStorage('compare-and-set: a stale or wrong expectation fails with ConflictError and changes nothing', async (s) => {
        const v1 = await s.put('cas', utf8('1'), { expect: 'absent' });
        await assert.rejects(s.put('cas', utf8('x'), { expect: 'absent' }), (e: unknown) => e instanceof ConflictError && e.actualVersion === v1);
        const v2 = await s.put('cas', utf8('2'), { expect: v1 });
        await assert.rejects(s.put('cas', utf8('y'), { expect: v1 }), ConflictError);
        await assert.rejects(s.put('other', utf8('z'), { expect: v2 }), (e: unknown) => e instanceof ConflictError && e.actualVersion === undefined);
        await assert.rejects(s.delete('cas', { expect: v1 }), ConflictError);
        const r = await s.get('cas');
        assert.equal(fromUtf8(r!.value), '2');
        assert.equal(r!.version, v2);
        assert.equal(await s.get('other'), undefined);
        assert.equal(await s.delete('cas', { expect: v2 }), true);
        assert.equal(await s.delete('cas'), false);
      });

      withStorage('stores bytes exactly and never shares buffers with callers', async (s) => {
        const all = new Uint8Array(256).map((_, i) => i);
        await s.put('bin', all);
        all[0] = 99;
        const r = await s.get('bin');
        assert.equal(r!.value.length, 256);
        assert.equal(r!.value[0], 0);
        assert.equal(r!.value[255], 255);
        r!.value[1] = 42;
        assert.equal((await s.get('bin'))!.value[1], 1);
        await s.put('empty', new Uint8Array(0));
        assert.equal((await s.get('empty'))!.value.length, 0);
      });

      withStorage('lists by prefix in byte order, with paging', async (s) => {
        const keys = ['p/b', 'p/a', 'p/c/1', 'p/C', 'q/a', 'p/a-', 'pp/x'];
        for (const k of keys) await s.put(k, utf8(k));
        const listed = (await s.list('p/')).map((r) => r.key);
        assert.deepEqual(listed, ['p/C', 'p/a', 'p/a-', 'p/b', 'p/c/1']);
        assert.deepEqual((await s.list('p/', { limit: 2 })).map((r) => r.key), ['p/C', 'p/a']);
        assert.deepEqual((await s.list('p/', { startAfter: 'p/a-', limit: 10 })).map((r) => r.key), ['p/b', 'p/c/1']);
        assert.equal((await s.list('')).length, keys.length);
        assert.deepEqual((await s.list('p')).map((r) => r.key).length, 6);
        for (const r of await s.list('p/')) assert.equal(fromUtf8(r.value), r.key);
      });

      withStorage('refuses values over the declared limit with InvalidArgumentError', async (s) => {
        const max = s.capabilities.maxValueBytes;
        if (max > 64 * 1024 * 1024) return; // too large to allocate in a test
        await assert.rejects(s.put('big', new Uint8Array(max + 1)), InvalidArgumentError);
        assert.equal(await s.get('big'), undefined);
        await s.put('big', new Uint8Array(Math.min(max, 512 * 1024)));
      });

      withStorage('200 concurrent compare-and-set increments in one process count exactly', async (s) => {
        const increment = async (): Promise<void> => {
          for (;;) {
            const r = await s.get('counter');
            const n = r ? Number(fromUtf8(r.value)) : 0;
            try {
              await s.put('counter', utf8(String(n + 1)), { expect: r?.version ?? 'absent' });
              return;
            } catch (e) {
              if (!(e instanceof ConflictError)) throw e;
            }
          }
        };
        await Promise.all(Array.from({ length: 200 }, increment));
        assert.equal(fromUtf8((await s.get('counter'))!.value), '200');
      });
    });

    describe('transactions', () => {
      withStorage('apply all operations or none', async (s) => {
        const v = await s.put('t/a', utf8('a0'));
        const result = await s.transact([
          { op: 'check', key: 't/a', expect: v },
          { op: 'put', key: 't/b', value: utf8('b1'), expect: 'absent' },
          { op: 'put', key: 't/a', value: utf8('a1') },
          { op: 'append', stream: 't/s', records: [utf8('r0'), utf8('r1')] },
        ]);
        assert.equal(result.results.length, 4);
        assert.deepEqual(result.results[3], { op: 'append', first: 0, next: 2 });
        const put = result.results[1];
        assert.ok(put?.op === 'put' && put.version === (await s.get('t/b'))!.version);
        await assert.rejects(
          s.transact([
            { op: 'put', key: 't/c', value: utf8('c') },
            { op: 'append', stream: 't/s', records: [utf8('r2')] },
            { op: 'delete', key: 't/a' },
            { op: 'check', key: 't/b', expect: 'absent' },
          ]),
          ConflictError,
        );
        assert.equal(await s.get('t/c'), undefined);
        assert.equal(fromUtf8((await s.get('t/a'))!.value), 'a1');
        assert.deepEqual(await s.streamInfo('t/s'), { start: 0, end: 2 });
      });

      withStorage('reject malformed operations with typed errors before doing anything', async (s) => {
        await assert.rejects(s.transact([{ op: 'nope' } as never]), InvalidArgumentError);
        await assert.rejects(s.transact([{ op: 'put', key: 'x', value: 'text' as never }]), InvalidArgumentError);
        await assert.rejects(s.transact([{ op: 'check', key: 'x' } as never]), InvalidArgumentError);
        await assert.rejects(s.transact([{ op: 'put', key: 'x', value: utf8('1'), expect: 0 }]), InvalidArgumentError);
        await assert.rejects(s.transact([{ op: 'trim', stream: 'x', before: -1 }]), InvalidArgumentError);
        await assert.rejects(s.transact([{ op: 'put', key: '../x', value: utf8('1') }]), InvalidKeyError);
        assert.deepEqual(await s.list(''), []);
      });
    });

    describe('fencing', () => {
      withStorage('a write fenced by an older epoch fails with FencedError and has no effect', async (s) => {
        const fence = 'f/tm';
        await assert.rejects(s.put('f/data', utf8('0'), { fence: { key: fence, epoch: 1 } }), FencedError);
        const first = await raiseFence(s, fence);
        assert.equal(first.epoch, 1);
        await s.put('f/data', utf8('1'), { fence: { key: fence, epoch: 1 } });
        await s.append('f/log', [utf8('1')], { fence: { key: fence, epoch: 1 } });
        const second = await raiseFence(s, fence, { from: 1 });
        assert.equal(second.epoch, 2);
        await assert.rejects(
          s.put('f/data', utf8('stale'), { fence: { key: fence, epoch: 1 } }),
          (e: unknown) => e instanceof FencedError && e.actualEpoch === 2 && e.expectedEpoch === 1,
        );
        await assert.rejects(s.append('f/log', [utf8('stale')], { fence: { key: fence, epoch: 1 } }), FencedError);
        await assert.rejects(s.trim('f/log', 1, { fence: { key: fence, epoch: 1 } }), FencedError);
        await assert.rejects(s.delete('f/data', { fence: { key: fence, epoch: 1 } }), FencedError);
        await assert.rejects(s.put('f/data', utf8('future'), { fence: { key: fence, epoch: 3 } }), FencedError);
        assert.equal(fromUtf8((await s.get('f/data'))!.value), '1');
        assert.deepEqual(await s.streamInfo('f/log'), { start: 0, end: 1 });
        await s.put('f/data', utf8('2'), { fence: { key: fence, epoch: 2 } });
        assert.equal(fromUtf8((await s.get('f/data'))!.value), '2');
      });

      withStorage('only one of two racing raises from the same epoch wins', async (s) => {
        await raiseFence(s, 'f/race');
        const outcomes = await Promise.allSettled([raiseFence(s, 'f/race', { from: 1 }), raiseFence(s, 'f/race', { from: 1 })]);
        assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
        const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
        assert.ok(lost.reason instanceof ConflictError);
      });
    });

    describe('streams', () => {
      withStorage('append, read, trim and bounds', async (s) => {
        assert.deepEqual(await s.streamInfo('s/new'), { start: 0, end: 0 });
        assert.deepEqual(await s.readStream('s/new', 0), { records: [], next: 0, start: 0, end: 0 });
        assert.deepEqual(await s.append('s/1', [utf8('a'), utf8('b')]), { first: 0, next: 2 });
        assert.deepEqual(await s.append('s/1', []), { first: 2, next: 2 });
        assert.deepEqual(await s.append('s/1', [utf8('c')]), { first: 2, next: 3 });
        const all = await s.readStream('s/1', 0);
        assert.deepEqual(all.records.map((r) => [r.offset, fromUtf8(r.data)]), [[0, 'a'], [1, 'b'], [2, 'c']]);
        assert.equal(all.next, 3);
        const page = await s.readStream('s/1', 1, { limit: 1 });
        assert.deepEqual(page.records.map((r) => r.offset), [1]);
        assert.equal(page.next, 2);
        assert.equal(await s.trim('s/1', 2), 2);
        assert.deepEqual(await s.streamInfo('s/1'), { start: 2, end: 3 });
        const after = await s.readStream('s/1', 0);
        assert.deepEqual(after.records.map((r) => r.offset), [2]);
        assert.equal(after.start, 2);
        assert.equal(await s.trim('s/1', 1), 2, 'trimming below the start changes nothing');
        await assert.rejects(s.trim('s/1', 4), InvalidArgumentError);
        assert.deepEqual((await s.readStream('s/1', 3)).records, []);
        assert.deepEqual(await s.append('s/1', [utf8('d')], {}), { first: 3, next: 4 });
        assert.equal(await s.get('s/1'), undefined, 'streams and records are separate name spaces');
      });

      withStorage('expectEnd makes an append conditional on the stream end', async (s) => {
        await s.append('s/c', [utf8('a')]);
        await assert.rejects(s.transact([{ op: 'append', stream: 's/c', records: [utf8('b')], expectEnd: 0 }]), ConflictError);
        await s.transact([{ op: 'append', stream: 's/c', records: [utf8('b')], expectEnd: 1 }]);
        assert.deepEqual(await s.streamInfo('s/c'), { start: 0, end: 2 });
      });

      withStorage('concurrent appends get distinct, gap-free offsets', async (s) => {
        const results = await Promise.all(Array.from({ length: 300 }, (_, i) => s.append('s/many', [utf8(String(i))])));
        const offsets = results.map((r) => r.first).sort((a, b) => a - b);
        assert.deepEqual(offsets, Array.from({ length: 300 }, (_, i) => i));
        const read = await s.readStream('s/many', 0);
        for (const r of read.records) assert.equal(fromUtf8(r.data), String(results.findIndex((x) => x.first === r.offset)));
      });
    });

    describe('watch', () => {
      withStorage('reports existing records, then synced, then live changes under the prefix only', async (s) => {
        await s.put('w/a', utf8('1'));
        await s.put('x/a', utf8('other'));
        const controller = new AbortController();
        const events: WatchEvent[] = [];
        const iterator = s.watch('w/', { signal: controller.signal })[Symbol.asyncIterator]();
        const next = async (): Promise<WatchEvent> => {
          const step = await iterator.next();
          assert.equal(step.done, false);
          events.push(step.value as WatchEvent);
          return step.value as WatchEvent;
        };
        const first = await next();
        assert.ok(first.type === 'put' && first.record.key === 'w/a' && fromUtf8(first.record.value) === '1');
        assert.equal((await next()).type, 'synced');
        const v = await s.put('w/b', utf8('2'));
        await s.put('x/b', utf8('ignored'));
        await s.delete('w/a');
        const put = await next();
        assert.ok(put.type === 'put' && put.record.key === 'w/b' && put.record.version === v);
        const del = await next();
        assert.ok(del.type === 'delete' && del.key === 'w/a' && del.version > v);
        controller.abort();
        const end = await iterator.next();
        assert.equal(end.done, true);
      });
    });

    describe('boundaries', () => {
      withStorage('rejects bad keys with InvalidKeyError', async (s) => {
        const bad = ['', '/a', 'a/', 'a//b', '../a', 'a/../b', './a', 'a b', 'ä', 'a\u0000b', 'a\nb', 'x'.repeat(513)];
        for (const key of bad) {
          await assert.rejects(s.get(key), InvalidKeyError, `get(${JSON.stringify(key)})`);
          await assert.rejects(s.put(key, utf8('1')), InvalidKeyError, `put(${JSON.stringify(key)})`);
          await assert.rejects(s.append(key, [utf8('1')]), InvalidKeyError, `append(${JSON.stringify(key)})`);
        }
        await assert.rejects(s.list('a//'), InvalidKeyError);
        await assert.rejects(s.get(42 as never), InvalidKeyError);
        assert.deepEqual(await s.list(''), []);
      });

      it('rejects calls before start and after close with ClosedError', async () => {
        const s = await options.create();
        await assert.rejects(s.get('a'), ClosedError);
        await s.start();
        await s.put('a', utf8('1'));
        await s.close();
        await s.close();
        await assert.rejects(s.get('a'), ClosedError);
        await assert.rejects(s.put('a', utf8('2')), ClosedError);
      });

      withStorage('an aborted signal rejects the call with a typed error', async (s) => {
        const controller = new AbortController();
        controller.abort();
        await assert.rejects(s.get('a', { signal: controller.signal }), (e: unknown) => e instanceof NonstopError && e.code === 'ERR_ABORTED');
      });
    });

    describe('several processes', () => {
      const multi = options.processes;
      if (!multi) {
        it('(skipped: the adapter declares no multi-process factory)', () => undefined);
        return;
      }
      const openShared = async (location: JsonValue): Promise<Storage> => {
        const factory = (await import(multi.module)) as { createStorage: StorageProcessFactory };
        const storage = await factory.createStorage(location, {});
        await storage.start();
        return storage;
      };

      it('two handles on one location see each other at once (linearizable)', async () => {
        const location = await multi.location();
        const a = await openShared(location);
        const b = await openShared(location);
        try {
          for (let i = 0; i < 20; i++) {
            const v = await a.put('lin', utf8(String(i)));
            const seen = await b.get('lin');
            assert.equal(seen?.version, v);
            await b.append('lin/s', [utf8(String(i))]);
            assert.equal((await a.streamInfo('lin/s')).end, i + 1);
          }
        } finally {
          await a.close();
          await b.close();
        }
      });

      it('two processes doing 1,000 compare-and-set increments each end at exactly 2,000', async () => {
        const location = await multi.location();
        const children = [0, 1].map(() =>
          startChild(import.meta.url, 'storage-child', { module: multi.module, location, scenario: 'increment', params: { key: 'counter', times: 1000 } }),
        );
        const codes = await Promise.all(children.map((c) => c.exited));
        assert.deepEqual(codes, [0, 0]);
        const s = await openShared(location);
        try {
          assert.equal(fromUtf8((await s.get('counter'))!.value), '2000');
        } finally {
          await s.close();
        }
      }, 120_000);

      it('SIGKILL during appends: every acknowledged append reads back intact, nothing torn is returned', async () => {
        const location = await multi.location();
        const child = startChild(import.meta.url, 'storage-child', { module: multi.module, location, scenario: 'append', params: { stream: 'kill/s', concurrency: 16 } });
        await child.waitForLine((l) => l.startsWith('ack 400 ') || /^ack \d{3,} /.test(l));
        await new Promise((resolve) => setTimeout(resolve, 15 + Math.random() * 40));
        child.process.kill('SIGKILL');
        assert.equal(await child.exited, 'SIGKILL');
        const acked = new Map<number, number>();
        for (const line of child.lines) {
          const m = /^ack (\d+) (\d+)$/.exec(line);
          if (m) acked.set(Number(m[1]), Number(m[2]));
        }
        assert.ok(acked.size >= 100, `only ${acked.size} acknowledged appends`);
        const s = await openShared(location);
        try {
          const { records, start } = await s.readStream('kill/s', 0);
          assert.equal(start, 0);
          const byOffset = new Map(records.map((r) => [r.offset, r.data]));
          for (const [n, offset] of acked) {
            const data = byOffset.get(offset);
            assert.ok(data, `acknowledged record ${n} at offset ${offset} is missing`);
            assert.deepEqual(JSON.parse(fromUtf8(data)), { n, pad: 'x'.repeat(n % 200) });
          }
          const seen = new Set<number>();
          for (const r of records) {
            const parsed = JSON.parse(fromUtf8(r.data)) as { n: number; pad: string };
            assert.equal(parsed.pad, 'x'.repeat(parsed.n % 200), `record at ${r.offset} is damaged`);
            assert.ok(!seen.has(parsed.n), `record ${parsed.n} appears twice`);
            seen.add(parsed.n);
          }
          // The storage stays writable after the crash.
          const { first } = await s.append('kill/s', [utf8('after')]);
          assert.equal(first, records.length);
        } finally {
          await s.close();
        }
      }, 60_000);

      it('a writer stopped (SIGSTOP) inside its critical section: the other proceeds, and after SIGCONT the stopped one is fenced and nothing it writes is visible', async () => {
        const location = await multi.location();
        const scratch = mkdtempSync(join(tmpdir(), 'nonstop-zombie-'));
        const marker = join(scratch, 'marker');
        const hooks = multi.hooksSupported ?? true;
        const s = await openShared(location);
        try {
          const { epoch } = await raiseFence(s, 'zombie/fence');
          const child = startChild(import.meta.url, 'storage-child', {
            module: multi.module,
            location,
            scenario: 'zombie',
            params: { fenceKey: 'zombie/fence', epoch, pauseAt: 3, marker, blockMs: 1500, hooks, prefix: 'zombie/data/' },
          });
          while (!existsSync(marker)) {
            if (child.lines.includes('finished')) assert.fail('the child finished without pausing');
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
          child.process.kill('SIGSTOP');
          const stoppedAt = performance.now();
          // This needs the critical section the stopped child holds: it proceeds once that goes stale.
          const raised = await raiseFence(s, 'zombie/fence', { from: epoch });
          assert.equal(raised.epoch, epoch + 1);
          if (hooks && multi.holderWaitMs !== undefined) {
            assert.ok(performance.now() - stoppedAt >= multi.holderWaitMs * 0.5, 'the raise should have waited for the stopped holder');
          }
          const before = (await s.list('zombie/data/')).map((r) => `${r.key}@${r.version}`);
          child.process.kill('SIGCONT');
          assert.equal(await child.exited, 0);
          const acks = child.lines.filter((l) => l.startsWith('ack ')).map((l) => Number(l.split(' ')[1]));
          const fails = child.lines.filter((l) => l.startsWith('fail '));
          assert.deepEqual(acks, [0, 1, 2], `acknowledged: ${acks.join(',')}`);
          assert.ok(fails.length >= 5, `failures: ${fails.join(' | ')}`);
          for (const f of fails) assert.match(f, /^fail \d+ ERR_FENCED$/);
          assert.equal(fails[0], 'fail 3 ERR_FENCED', 'the write in flight during the stop must fail');
          const after = (await s.list('zombie/data/')).map((r) => `${r.key}@${r.version}`);
          assert.deepEqual(after, before, 'nothing written by the stopped process after the raise is visible');
          assert.deepEqual(
            after.map((k) => k.split('@')[0]),
            ['zombie/data/0', 'zombie/data/1', 'zombie/data/2'],
          );
        } finally {
          await s.close();
          rmSync(scratch, { recursive: true, force: true });
        }
      }, 60_000);
    });
  });
}
