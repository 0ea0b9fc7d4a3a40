// Work that arrives while a branch is being prepared, committed in one phase or rolled back (the
// journal write is under way) is refused: accepting it would lose it (the journal record was
// taken before it came) and leave its key locked by a finished transaction.
import { describe, expect, it } from 'vitest';
import type { Epoch } from '../../src/core/ids.js';
import { KvResourceManager, MemoryRmJournal, TxStateError, type RmJournalRecord, type TxId } from '../../src/tx/index.js';

const e = (n: number): Epoch => n as Epoch;
const t = (s: string): TxId => s as TxId;

/** A memory journal whose appends wait until `release()` while `hold` is set. */
class HeldJournal extends MemoryRmJournal {
  hold = false;
  #waiting: (() => void)[] = [];
  /** Resolves once an append is waiting. */
  appending: Promise<void> = new Promise(() => {});
  #appended: () => void = () => {};

  constructor() {
    super();
    this.#arm();
  }

  #arm(): void {
    this.appending = new Promise((resolve) => (this.#appended = resolve));
  }

  override async append(records: readonly RmJournalRecord[]): Promise<void> {
    if (this.hold) {
      await new Promise<void>((resolve) => {
        this.#waiting.push(resolve);
        this.#appended();
      });
    }
    await super.append(records);
  }

  release(): void {
    this.hold = false;
    for (const resolve of this.#waiting.splice(0)) resolve();
    this.#arm();
  }
}

async function ending(end: (rm: KvResourceManager) => Promise<unknown>): Promise<{ rm: KvResourceManager; late: unknown }> {
  const journal = new HeldJournal();
  const rm = new KvResourceManager({ name: 'bank', journal });
  await rm.write(t('t1.1'), 'a', 1);
  await rm.prepare(t('t0.1'), e(1)).catch(() => undefined); // records epoch 1 now, not during `end`
  journal.hold = true;
  const ended = end(rm);
  await journal.appending;
  const late = await rm.write(t('t1.1'), 'b', 2).then(
    () => 'accepted',
    (err: unknown) => err,
  );
  journal.release();
  await ended;
  return { rm, late };
}

describe('KvResourceManager: no work while a branch ends', () => {
  it('refuses a write during prepare, and the written keys are free once the branch is finished', async () => {
    const { rm, late } = await ending((rm) => rm.prepare(t('t1.1'), e(1)));
    expect(late).toBeInstanceOf(TxStateError);
    await rm.commit(t('t1.1'), e(1));
    expect(await rm.read('a')).toBe(1);
    expect(await rm.read('b')).toBeUndefined();
    await rm.write(t('t1.2'), 'b', 3); // not locked by the finished t1.1
    await rm.write(t('t1.2'), 'a', 3);
  });

  it('refuses a write during a one-phase commit', async () => {
    const { rm, late } = await ending((rm) => rm.commit(t('t1.1'), e(1), { onePhase: true }));
    expect(late).toBeInstanceOf(TxStateError);
    expect(await rm.read('a')).toBe(1);
    await rm.write(t('t1.2'), 'b', 3);
  });

  it('refuses a write during a rollback', async () => {
    const { rm, late } = await ending((rm) => rm.rollback(t('t1.1'), e(1)));
    expect(late).toBeInstanceOf(TxStateError);
    expect(await rm.read('a')).toBeUndefined();
    await rm.write(t('t1.2'), 'b', 3);
  });
});
