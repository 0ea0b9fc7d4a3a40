// Resource-manager journal compaction under SIGKILL: a real process compacts its FileRmJournal and
// is killed at each step (new file written, synced, renamed over the journal). The state rebuilt
// from what is on disk must equal the state before the compaction.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startChild } from '../../src/testing/conformance/child-process.js';
import { FileResourceManager } from '../../src/tx/index.js';
import { stateOf } from '../fixtures/tx-rm-workload.js';

const FIXTURE = new URL('../fixtures/tx-node.ts', import.meta.url).href;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('FileRmJournal compaction (real process, SIGKILL)', () => {
  for (const step of ['written', 'synced', 'renamed', 'none'] as const) {
    it(step === 'none' ? 'a compaction that completes keeps every later write' : `killed at "${step}": the state on disk is the state before`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'nonstop-compact-kill-'));
      dirs.push(dir);
      const path = join(dir, 'bank.journal');
      const child = startChild(FIXTURE, 'tx-compact-node', { path, step });
      const exit = await child.exited;
      expect(exit).toBe(step === 'none' ? 0 : 'SIGKILL');
      if (step !== 'none') expect(child.lines).toContain(`crash ${step}`);
      const states = child.lines.filter((l) => l.startsWith('state ')).map((l) => JSON.parse(l.slice(6)) as unknown);
      expect(states.length).toBe(step === 'none' ? 2 : 1);
      const recovered = new FileResourceManager({ name: 'bank', path });
      expect(JSON.parse(JSON.stringify(await stateOf(recovered)))).toEqual(states.at(-1));
      await recovered.close();
      expect(existsSync(`${path}.compact`)).toBe(false);
    }, 60_000);
  }
});
