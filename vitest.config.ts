import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Real-process tests stop and kill child processes; keep file-level parallelism modest on 2 cores.
    maxWorkers: 2,
  },
});
