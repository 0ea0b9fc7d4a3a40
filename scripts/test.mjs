// `npm test`: runs vitest (arguments pass through), then prints one plain summary line
// "N passed, N failed, N skipped" from vitest's JSON report, and exits with vitest's status.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

const report = '.tmp/vitest-report.json';
mkdirSync('.tmp', { recursive: true });
rmSync(report, { force: true });
const vitest = spawnSync(
  process.execPath,
  ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
let summary = 'tests: no report (vitest did not finish)';
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  summary = `tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`;
} catch {
  // keep the message above
}
console.log(summary);
process.exit(vitest.status ?? 1);
