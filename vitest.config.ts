import { defineConfig } from 'vitest/config';

// Unit tests (test/unit) need nothing; integration tests (test/integration) use the real
// servers named in test/helpers/engines.ts. Under CI a JSON report is written for .ci/run.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
