// First step of `npm run build`: removes dist/ and the per-module declarations in .tmp/dts, so
// that no file of an earlier build (a per-module .d.ts, the .js of a deleted module) is published.
import { rmSync } from 'node:fs';

for (const dir of ['dist', '.tmp/dts']) rmSync(dir, { recursive: true, force: true });
