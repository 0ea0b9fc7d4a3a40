// Runs every example under examples/ (the demo included) and fails if one fails or hangs.
// Examples import the package by its name, so `npm run build` must have run first.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = 'examples';
const files = readdirSync(dir).filter((f) => /\.(ts|mts)$/.test(f)).sort();
let failed = 0;
for (const file of files) {
  const started = Date.now();
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(dir, file)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, NONSTOP_EXAMPLE: '1' },
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status === 0) {
    console.log(`ok    ${file} (${seconds} s)`);
  } else {
    failed++;
    console.log(`FAIL  ${file} (${seconds} s, exit ${result.status ?? result.signal})`);
    console.log(result.stdout.split('\n').slice(-30).join('\n'));
    console.log(result.stderr.split('\n').slice(-30).join('\n'));
  }
}
console.log(`examples: ${files.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
