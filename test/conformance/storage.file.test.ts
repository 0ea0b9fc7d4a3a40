import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { FileStorage } from '../../src/storage/file/index.js';
import { storageConformance } from '../../src/testing/index.js';
import { LOCK_WAIT_MS } from '../fixtures/file-storage-factory.js';

const root = mkdtempSync(join(tmpdir(), 'nonstop-file-conformance-'));
const fresh = (): string => mkdtempSync(join(root, 's-'));

storageConformance({ describe, it }, {
  name: 'FileStorage',
  create: () => new FileStorage({ directory: fresh(), snapshotEvery: 50 }),
  processes: {
    module: fileURLToPath(new URL('../fixtures/file-storage-factory.ts', import.meta.url)),
    location: () => ({ directory: fresh() }),
    holderWaitMs: LOCK_WAIT_MS,
  },
});
