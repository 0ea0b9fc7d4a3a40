// 1,000 simulated nodes (memory transport and storage, simulated clock), seeded: replay a failing
// run with RING_SIM_SEED=<seed printed in the failure message>.
import { describe, expect, it } from 'vitest';
import { readClusterConfig } from '../../src/cluster/index.js';
import type { NodeId } from '../../src/core/ids.js';
import { simName, SimCluster } from '../fixtures/ring-sim-cluster.js';

const SEED = Number(process.env['RING_SIM_SEED'] ?? 20261122);
const N = 1000;
const H = 1000;

/** Every live node monitors the next live node by name, and the stored configuration says the same. */
async function expectClosedRing(c: SimCluster, why: string): Promise<void> {
  const live = c.liveNodes().sort((a, b) => (a.name < b.name ? -1 : 1));
  const config = await readClusterConfig(c.storage);
  const active = [...config.members.values()].filter((m) => m.state === 'active').map((m) => m.node).sort();
  expect(active, why).toEqual(live.map((n) => n.name));
  live.forEach((node, i) => {
    const next = live[(i + 1) % live.length]!.name;
    expect(node.monitor.monitoring, `${why}: ${node.name}`).toBe(next);
    expect(config.ring.get(node.name), `${why}: ring of ${node.name}`).toBe(next);
  });
}

describe(`ring monitoring of ${N} simulated nodes (seed ${SEED})`, () => {
  it('no false failures under 10% loss or cut monitoring links; every crash declared exactly once; the ring re-closes', async () => {
    const why = `seed ${SEED} (replay: RING_SIM_SEED=${SEED})`;
    const c = new SimCluster({ seed: SEED, heartbeatIntervalMs: H, defaultLink: { delayMs: [1, 5], lossProbability: 0.1, duplicateProbability: 0.01 } });
    await c.init();
    await c.startNodes(N);
    await expectClosedRing(c, why);

    // Phase 1: 10% message loss on every link.
    await c.run(15 * H);
    expect(c.failures, why).toEqual([]);

    // Phase 2: cut 150 monitoring links: 50 both ways, 50 observer → target, 50 target → observer.
    const live = c.liveNodes();
    const cut = new Set<NodeId>();
    for (let k = 0; k < 150; k++) {
      const observer = live[Math.floor(c.random.next() * live.length)]!.monitor;
      const target = observer.monitoring!;
      if (cut.has(target)) continue;
      cut.add(target);
      if (k < 50) c.network.partition(observer.node, target);
      else if (k < 100) c.network.partition(observer.node, target, { oneWay: true });
      else c.network.partition(target, observer.node, { oneWay: true });
    }
    const eventsBefore = c.events.length;
    await c.run(15 * H);
    c.network.healAll();
    expect(c.failures, why).toEqual([]);
    const unreachable = new Set(c.events.slice(eventsBefore).filter((e) => e.type === 'unreachable').map((e) => e.about));
    // Every cut link is reported as a link problem (loss alone also causes a few reports).
    for (const node of cut) expect(unreachable.has(node), `${why}: ${node}`).toBe(true);

    // Phase 3: crashes — 20 single nodes, 5 adjacent pairs (a node and its monitor), 1 triple.
    const crashed = new Set<NodeId>();
    const groups: NodeId[][] = [];
    const sizes = [...Array<number>(20).fill(1), ...Array<number>(5).fill(2), 3];
    for (const size of sizes) {
      let start: number;
      do start = Math.floor(c.random.next() * N);
      while ([...Array(size + 2).keys()].some((d) => crashed.has(simName((start + d - 1 + N) % N))));
      const group = [...Array(size).keys()].map((d) => simName((start + d) % N));
      group.forEach((n) => crashed.add(n));
      groups.push(group);
    }
    for (const group of groups) {
      await c.run(Math.floor(c.random.next() * H / 2));
      for (const node of group) c.crash(node);
    }
    await c.run(12 * H);
    const declared = c.failures.map((f) => `${f.failure.node}#${f.failure.incarnation}`).sort();
    expect(declared, why).toEqual([...crashed].map((n) => `${n}#1`).sort());
    for (const { failure } of c.failures) expect(crashed.has(failure.detector), why).toBe(false);
    await expectClosedRing(c, why);
  }, 120_000);
});
