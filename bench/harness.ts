/**
 * The benchmark harness: every suite returns rows; `bench/run.ts` prints them as one table and
 * writes them as JSON. Ratios are always against a baseline measured in the same run.
 */

/** One measured figure. */
export interface BenchRow {
  /** Which suite produced it, e.g. `storage` or `transport`. */
  readonly suite: string;
  /** What was measured, e.g. `FileStorage append c=64`. */
  readonly name: string;
  /** The figure. */
  readonly value: number;
  /** Its unit, e.g. `ops/s`. */
  readonly unit: string;
  /** What the ratio compares against (a row name of the same run), if any. */
  readonly baseline?: string;
  /** value ÷ baseline value. */
  readonly ratio?: number;
  /** Anything else worth printing (goal, parameters). */
  readonly note?: string;
}

/** A benchmark suite: measures and returns its rows. */
export type BenchSuite = (context: BenchContext) => Promise<BenchRow[]>;

/** What a suite gets from the runner. */
export interface BenchContext {
  /** A scratch directory on the same file system as the project (removed afterwards). */
  readonly scratchDir: string;
  /** Scale factor: 1 for a normal run, smaller for a quick run (`BENCH_QUICK=1`). */
  readonly scale: number;
  /** Prints a progress line to stderr. */
  progress(message: string): void;
}

/** Runs `fn` repeatedly for about `ms` milliseconds of real time; returns operations per second. */
export async function opsPerSecond(ms: number, fn: () => Promise<unknown>): Promise<{ ops: number; perSecond: number }> {
  const start = performance.now();
  let ops = 0;
  while (performance.now() - start < ms) {
    await fn();
    ops++;
  }
  return { ops, perSecond: ops / ((performance.now() - start) / 1000) };
}

/** The p-th percentile (0–100) of a list of numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}
