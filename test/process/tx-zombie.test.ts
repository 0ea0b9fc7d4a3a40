// Zombie manager: SIGSTOP the active manager's process past its lease, let another take over and
// resolve, SIGCONT it: it must commit nothing on its old authority, and the checker still passes.
import { describe, expect, it } from 'vitest';
import { runScenario } from '../fixtures/tx-process-scenario.js';

describe('TxManager zombie (real processes, SIGSTOP/SIGCONT)', () => {
  it('the resumed old manager is fenced and steps down; every invariant holds', async () => {
    const r = await runScenario({ zombie: true });
    const detail = JSON.stringify({ violations: r.violations, activations: r.activations }, null, 2);
    expect(r.lines['tm1']!.some((l) => l.startsWith('lost')), detail).toBe(true);
    expect(new Set(r.activations.map((a) => a.node)).size, detail).toBeGreaterThanOrEqual(2);
    expect(r.violations, detail).toEqual([]);
    expect(r.acks.filter((a) => a.outcome === 'committed').length).toBeGreaterThan(5);
  }, 120_000);
});
