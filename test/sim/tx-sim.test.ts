// 300 simulated runs (memory adapters, simulated clock) with kills, partitions, pauses and crash
// points, each checked by the independent checker. A failing seed is printed; replay one with
// TX_SEED=<seed> npx vitest run test/sim/tx-sim.test.ts (TX_SEEDS=<n> changes the count).
import { describe, expect, it } from 'vitest';
import { simulate, type SimResult } from '../fixtures/tx-sim-workload.js';

const single = process.env['TX_SEED'];
const count = Number(process.env['TX_SEEDS'] ?? 300);
const seeds = single !== undefined ? [Number(single)] : Array.from({ length: count }, (_, i) => 1000 + i);

describe('TxManager simulation', () => {
  it(`keeps every invariant over ${seeds.length} seeded runs`, async () => {
    const failures: SimResult[] = [];
    let committed = 0;
    let failovers = 0;
    for (const seed of seeds) {
      const result = await simulate(seed);
      committed += result.committed;
      failovers += result.failovers;
      if (result.violations.length > 0) {
        failures.push(result);
        console.error(`seed ${seed} (crash point ${result.crashPoint ?? "none"}${result.zombie ? ", zombie" : ""}): replay with TX_SEED=${seed}\n${JSON.stringify(result.violations, null, 2)}`);
      }
    }
    console.log(`${seeds.length} seeds: ${committed} commits, ${failovers} failovers, ${failures.length} failing`);
    expect(failures.map((f) => f.seed)).toEqual([]);
    expect(committed).toBeGreaterThan(seeds.length); // the runs did real work
  }, 600_000);
});

describe('TxManager simulation replay', () => {
  it('is deterministic per seed (a failing seed can be replayed)', async () => {
    const a = await simulate(4242);
    const b = await simulate(4242);
    expect(b).toEqual(a);
    expect(a.committed + a.aborted + a.unknown).toBeGreaterThan(0);
  }, 60_000);
});
