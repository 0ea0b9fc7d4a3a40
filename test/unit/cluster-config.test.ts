import { describe, expect, it } from 'vitest';
import { clusterAddressResolver, ClusterView, readClusterConfig, ringOf, type Member } from '../../src/cluster/index.js';
import { decodeMember, encodeMember, GENERATION_KEY, memberKey } from '../../src/cluster/member.js';
import { updateCluster } from '../../src/cluster/update.js';
import { systemClock } from '../../src/core/clock.js';
import { utf8 } from '../../src/core/codec.js';
import { ConflictError, InvalidArgumentError, StorageCorruptError } from '../../src/core/errors.js';
import { incarnation, nodeId, type NodeId } from '../../src/core/ids.js';
import { seededRandom } from '../../src/core/random.js';
import { MemoryStorage } from '../../src/storage/memory/index.js';
import { SimulatedClock } from '../../src/testing/index.js';

const member = (name: string, state: Member['state'] = 'active', inc = 1): Member => ({
  node: nodeId(name),
  host: `${name}.example`,
  port: 7000,
  roles: [],
  incarnation: incarnation(inc),
  state,
  generation: 1,
});

async function storage(): Promise<MemoryStorage> {
  const s = new MemoryStorage();
  await s.start();
  return s;
}

/** Registers `members` one change at a time. */
async function register(s: MemoryStorage, members: Member[]): Promise<void> {
  for (const m of members) {
    await updateCluster(s, [m.node], () => ({ change: { put: [m] }, result: undefined }), { clock: new SimulatedClock() });
  }
}

describe('member records', () => {
  it('round-trip through their encoding', () => {
    const m = { ...member('a', 'failed'), roles: ['tm'], failedBy: nodeId('b') };
    expect(decodeMember(memberKey(m.node), encodeMember(m))).toEqual(m);
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '[]'],
    ['an unknown field', '{"node":"a","host":"h","port":1,"roles":[],"incarnation":1,"state":"active","generation":1,"x":1}'],
    ['a node that does not match the key', '{"node":"b","host":"h","port":1,"roles":[],"incarnation":1,"state":"active","generation":1}'],
    ['a bad port', '{"node":"a","host":"h","port":70000,"roles":[],"incarnation":1,"state":"active","generation":1}'],
    ['a bad incarnation', '{"node":"a","host":"h","port":1,"roles":[],"incarnation":0,"state":"active","generation":1}'],
    ['an unknown state', '{"node":"a","host":"h","port":1,"roles":[],"incarnation":1,"state":"zombie","generation":1}'],
    ['no generation', '{"node":"a","host":"h","port":1,"roles":[],"incarnation":1,"state":"active"}'],
  ])('reject %s with StorageCorruptError', (_, text) => {
    expect(() => decodeMember(memberKey(nodeId('a')), utf8(text))).toThrow(StorageCorruptError);
  });

  it('make readClusterConfig fail with StorageCorruptError when one is damaged', async () => {
    const s = await storage();
    await s.put(memberKey(nodeId('a')), utf8('{"node":"a"}'));
    await expect(readClusterConfig(s)).rejects.toBeInstanceOf(StorageCorruptError);
  });
});

describe('ringOf', () => {
  it('links the active members in name order into a ring; others are left out', () => {
    const ring = ringOf([member('c'), member('a'), member('b', 'failed'), member('d', 'joining'), member('e')]);
    expect([...ring]).toEqual([
      ['a', 'c'],
      ['c', 'e'],
      ['e', 'a'],
    ]);
  });

  it('gives a single active member nobody to monitor', () => {
    expect(ringOf([member('a')]).size).toBe(0);
  });
});

describe('updateCluster', () => {
  it('raises the generation with every change and stamps it on the written records', async () => {
    const s = await storage();
    await register(s, [member('a'), member('b')]);
    const config = await readClusterConfig(s);
    expect(config.generation).toBe(2);
    expect(config.members.get(nodeId('b'))?.generation).toBe(2);
    expect([...config.ring]).toEqual([
      ['a', 'b'],
      ['b', 'a'],
    ]);
  });

  it('writes nothing when decide returns no change', async () => {
    const s = await storage();
    const update = await updateCluster(s, [nodeId('a')], () => ({ result: 7 }), { clock: new SimulatedClock() });
    expect(update).toEqual({ result: 7, applied: false, generation: 0 });
    expect(await s.get(GENERATION_KEY)).toBeUndefined();
  });

  it('re-reads and decides again when another writer got in first', async () => {
    const s = await storage();
    await register(s, [member('a')]);
    const seen: (Member['state'] | undefined)[] = [];
    let interfered = false;
    const update = await updateCluster(
      s,
      [nodeId('a')],
      (current) => {
        const a = current.get(nodeId('a'))!;
        seen.push(a.state);
        if (!interfered) {
          interfered = true;
          void s.put(memberKey(a.node), encodeMember({ ...a, state: 'leaving' }));
        }
        return { change: { put: [{ ...a, roles: ['tm'] }] }, result: a.state };
      },
      { clock: systemClock, random: seededRandom(1) },
    );
    expect(seen).toEqual(['active', 'leaving']);
    expect(update.result).toBe('leaving');
    expect((await readClusterConfig(s)).members.get(nodeId('a'))).toMatchObject({ state: 'leaving', roles: ['tm'] });
  });

  it('lets exactly one of many racing writers move a member from active to failed', async () => {
    const s = await storage();
    await register(s, [member('a'), member('b'), member('c'), member('d')]);
    const clock = systemClock;
    const racers = ['b', 'c', 'd'].map((detector, i) =>
      updateCluster(
        s,
        [nodeId('a')],
        (current) => {
          const a = current.get(nodeId('a'))!;
          if (a.state !== 'active') return { result: false };
          return { change: { put: [{ ...a, state: 'failed', failedBy: nodeId(detector) }] }, result: true };
        },
        { clock, random: seededRandom(i) },
      ),
    );
    const outcomes = await Promise.all(racers);
    expect(outcomes.filter((o) => o.result)).toHaveLength(1);
  });

  it('gives up with ConflictError after maxAttempts lost races', async () => {
    const s = await storage();
    await register(s, [member('a')]);
    const clock = systemClock;
    const update = updateCluster(
      s,
      [nodeId('a')],
      (current) => {
        const a = current.get(nodeId('a'))!;
        void s.put(GENERATION_KEY, utf8(`{"generation":${a.generation + 100}}`));
        return { change: { put: [a] }, result: undefined };
      },
      { clock, maxAttempts: 3 },
    );
    await expect(update).rejects.toBeInstanceOf(ConflictError);
  });

  it('refuses to write a member it did not read', async () => {
    const s = await storage();
    const update = updateCluster(s, [nodeId('a')], () => ({ change: { put: [member('b')] }, result: undefined }), { clock: new SimulatedClock() });
    await expect(update).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('ClusterView', () => {
  it('follows changes and answers ring questions incrementally', async () => {
    const s = await storage();
    await register(s, [member('a'), member('b'), member('c')]);
    const view = new ClusterView({ storage: s });
    await view.start();
    const changes: NodeId[] = [];
    view.on('changed', (m) => changes.push(m.node));
    expect(view.monitors(nodeId('a'))).toBe('b');
    expect(view.monitoredBy(nodeId('a'))).toBe('c');
    await register(s, [member('b', 'failed')]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(changes).toEqual(['b']);
    expect(view.monitors(nodeId('a'))).toBe('c');
    expect(view.monitors(nodeId('b'))).toBeUndefined();
    expect(view.generation).toBe(4);
    expect(view.snapshot().ring.get(nodeId('c'))).toBe('a');
    await view.close();
  });

  it('reports a damaged record and ignores it', async () => {
    const s = await storage();
    const view = new ClusterView({ storage: s });
    await view.start();
    const corrupt: StorageCorruptError[] = [];
    view.on('corrupt', (e) => corrupt.push(e));
    await s.put(memberKey(nodeId('x')), utf8('nonsense'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(corrupt).toHaveLength(1);
    expect(view.member(nodeId('x'))).toBeUndefined();
    await view.close();
  });
});

describe('clusterAddressResolver', () => {
  it('resolves names to the host name and port in the configuration, at every call', async () => {
    const s = await storage();
    const resolve = clusterAddressResolver(s);
    expect(await resolve(nodeId('a'))).toBeUndefined();
    await register(s, [member('a')]);
    expect(await resolve(nodeId('a'))).toEqual({ host: 'a.example', port: 7000 });
    await register(s, [{ ...member('a'), host: 'a2.example', port: 7001 }]);
    expect(await resolve(nodeId('a'))).toEqual({ host: 'a2.example', port: 7001 });
  });
});
