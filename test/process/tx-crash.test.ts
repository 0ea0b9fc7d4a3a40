// Real processes (FileStorage + TcpTransport): the active manager's process is SIGKILLed at each
// crash point; an independent checker then compares what the application was told with the RM
// journals on disk.
import { describe, expect, it } from 'vitest';
import { runScenario, type ScenarioResult } from '../fixtures/tx-process-scenario.js';

function explain(r: ScenarioResult): string {
  return JSON.stringify({ violations: r.violations, crashes: r.crashes, activations: r.activations }, null, 2);
}

describe('TxManager crash points (real processes, SIGKILL)', () => {
  for (const point of ['beforeDecision', 'afterDecision', 'midCommit'] as const) {
    it(`${point}: every invariant holds and in-doubt branches are resolved`, async () => {
      const r = await runScenario({ first: point });
      expect(r.crashes, explain(r)).toContain('tm1');
      expect(r.violations, explain(r)).toEqual([]);
      expect(r.acks.filter((a) => a.outcome === 'committed').length).toBeGreaterThan(5);
    }, 120_000);
  }

  it('during recovery, repeatedly: two successors die in recovery, the third finishes it', async () => {
    // tm1 stays down longer than the lease, so tm2 and tm3 take over (and die) first.
    const r = await runScenario({ first: 'afterDecision', others: 'duringRecovery', restartDelayMs: 6_000 });
    expect(r.crashes.length, explain(r)).toBeGreaterThanOrEqual(2);
    expect(r.violations, explain(r)).toEqual([]);
  }, 120_000);

  it('during log trimming', async () => {
    const r = await runScenario({ first: 'duringTrim', perLoop: 14 });
    expect(r.crashes, explain(r)).toContain('tm1');
    expect(r.violations, explain(r)).toEqual([]);
  }, 120_000);
});
