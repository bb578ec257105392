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
    // expect.poll's 1 s default is shorter than a relay round trip on a loaded 2-core CI
    // machine (CI33 failed on one); a poll only waits until its condition holds.
    expect: { poll: { timeout: 15_000 } },
  },
});
