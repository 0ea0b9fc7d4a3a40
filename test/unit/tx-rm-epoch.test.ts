// A resource manager persists a higher epoch before acting on calls of it (B1). A call that raises
// the epoch takes it at once, so that older calls are refused while its journal write is under way;
// another call of the same epoch must still wait for that write, and not act as if it were durable.
import { describe, expect, it } from 'vitest';
import type { Epoch } from '../../src/core/ids.js';
import { KvResourceManager, MemoryRmJournal, StaleEpochError, type RmJournalRecord, type TxId } from '../../src/tx/index.js';

const e = (n: number): Epoch => n as Epoch;
const t = (s: string): TxId => s as TxId;

/** A memory journal whose epoch-2 append waits until `fail()` and then fails (a disk error). */
class FailingEpochJournal extends MemoryRmJournal {
  epochWriting: Promise<void>;
  #writing!: () => void;
  #fail!: () => void;
  readonly #failed = new Promise<void>((resolve) => (this.#fail = resolve));
  #failing = true;

  constructor() {
    super();
    this.epochWriting = new Promise((resolve) => (this.#writing = resolve));
  }

  override async append(records: readonly RmJournalRecord[]): Promise<void> {
    if (this.#failing && records.some((r) => r.t === 'epoch' && r.e === 2)) {
      this.#failing = false;
      this.#writing();
      await this.#failed;
      throw new Error('EIO');
    }
    await super.append(records);
  }

  fail(): void {
    this.#fail();
  }
}

describe('KvResourceManager: a raised epoch is durable before calls of it act', () => {
  it('does not prepare for an epoch whose journal write failed, so a restart still refuses the older epoch', async () => {
    const journal = new FailingEpochJournal();
    const rm = new KvResourceManager({ name: 'bank', journal });
    await rm.write(t('t1.1'), 'a', 1);
    await rm.prepare(t('t1.0'), e(1)); // epoch 1 is durable

    const raising = rm.rollback(t('t2.1'), e(2)).then(
      () => 'ok',
      (err: unknown) => err,
    );
    await journal.epochWriting;
    const prepare = rm.prepare(t('t1.1'), e(2)).then(String, (err: unknown) => err);
    journal.fail();
    expect(await raising).toBeInstanceOf(Error);
    const vote = await prepare;

    // Whatever the prepare answered, what it answered must survive a restart with epoch 2 in force.
    const restarted = new KvResourceManager({ name: 'bank', journal });
    await restarted.open();
    if (vote === 'prepared') {
      expect(restarted.inDoubt()).toContain('t1.1');
      expect(restarted.highestEpoch).toBe(2);
      await expect(restarted.rollback(t('t1.1'), e(1))).rejects.toBeInstanceOf(StaleEpochError);
    } else {
      expect(restarted.inDoubt()).not.toContain('t1.1');
    }
  });
});
