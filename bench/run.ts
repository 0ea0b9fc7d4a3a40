/**
 * `npm run bench`: runs every suite in one process, prints one table, writes bench/results/latest.json.
 * Never pass/fail on absolute time: the figures are for reading, and ratios are against baselines
 * measured in this same run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchRow, BenchSuite } from './harness.js';

const suites: Record<string, () => Promise<{ default: BenchSuite }>> = {
  storage: () => import('./storage.js'),
  transport: () => import('./transport.js'),
  ring: () => import('./ring.js'),
  tx: () => import('./tx.js'),
};

const only = process.argv.slice(2);
const scale = process.env['BENCH_QUICK'] === '1' ? 0.2 : 1;
const root = join(process.cwd(), '.tmp');
mkdirSync(root, { recursive: true });
const rows: BenchRow[] = [];
for (const [name, load] of Object.entries(suites)) {
  if (only.length > 0 && !only.includes(name)) continue;
  const scratchDir = mkdtempSync(join(root, `bench-${name}-`));
  try {
    const suite = (await load()).default;
    rows.push(
      ...(await suite({ scratchDir, scale, progress: (m) => process.stderr.write(`[${name}] ${m}\n`) })),
    );
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
}

const fmt = (n: number): string =>
  Number.isInteger(n) || Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
const table = rows.map((r) => ({
  suite: r.suite,
  name: r.name,
  value: `${fmt(r.value)} ${r.unit}`,
  ratio: r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}× ${r.baseline ?? ''}`,
  note: r.note ?? '',
}));
const widths = ['suite', 'name', 'value', 'ratio', 'note'].map((k) =>
  Math.max(k.length, ...table.map((t) => String(t[k as keyof typeof t]).length)),
);
const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
console.log(line(['suite', 'name', 'value', 'ratio', 'note']));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const t of table) console.log(line([t.suite, t.name, t.value, t.ratio, t.note]));
mkdirSync('bench/results', { recursive: true });
const file = join('bench/results', 'latest.json');
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2));
console.log(`\nwrote ${file}`);
