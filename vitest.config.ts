import { defineConfig } from 'vitest/config';

// One config for every suite. Tests that start real processes (relay, CLI) need
// generous timeouts on a 2-core machine; none asserts on time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
