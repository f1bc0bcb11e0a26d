import { defineConfig } from 'vitest/config';

// Unit tests (test/unit) need nothing; integration tests (test/integration) use the real
// servers named in test/helpers/engines.ts. Under CI a JSON report is written for .ci/run.
//
// Two groups, run one after the other: the outage tests stop and restart the second test
// servers, which other files (move, placement) use, so nothing else runs while they do.
const OUTAGES = ['test/integration/servers.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' },
    projects: [
      {
        extends: true,
        test: { name: 'fleet', include: ['test/**/*.test.ts'], exclude: OUTAGES, sequence: { groupOrder: 0 } },
      },
      { extends: true, test: { name: 'outages', include: OUTAGES, sequence: { groupOrder: 1 } } },
    ],
  },
});
