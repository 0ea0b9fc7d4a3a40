/**
 * Injected randomness, so that jitter, sampling and simulated faults are reproducible from a seed.
 *
 * @module
 */

/** A source of uniformly distributed numbers. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
}

/** The default, non-reproducible source (`Math.random`). */
export const defaultRandom: Random = { next: () => Math.random() };

/**
 * A fast deterministic generator (sfc32) seeded from a 32-bit integer: the same seed always
 * produces the same sequence.
 */
export function seededRandom(seed: number): Random {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88;
  let c = 0xb7e15162 ^ Math.imul(seed, 0x85ebca6b);
  let d = 1;
  const next = (): number => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next();
  return { next };
}

/** An integer in [min, max] (inclusive) drawn from `random`. */
export function randomInt(random: Random, min: number, max: number): number {
  return min + Math.floor(random.next() * (max - min + 1));
}
