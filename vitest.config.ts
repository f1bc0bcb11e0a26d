import { defineConfig } from 'vitest/config';

// Three projects. `unit` (test/unit) needs no server and has no global setup, so
// `npm run test:unit` starts nothing. The integration tests (test/integration) use the real
// servers named in test/helpers/engines.ts, checked once by the global setup; they run in two
// groups, one after the other: the outage tests stop and restart the second test servers, which
// other files (move, placement) use, so nothing else runs while they do.
// Under CI a JSON report is written for .ci/run.
const OUTAGES = ['test/integration/servers.test.ts'];
const SERVERS = { globalSetup: ['test/helpers/global-setup.ts'] };

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two test files at once, whatever the cores: they mostly wait on the servers, the dump tools
    // and the CLI processes they start (vitest's default, one fewer than the cores, is one file
    // at a time on a 2-core machine). Files keep to their own databases, users and registries;
    // more than two at once against the same servers has not been tried.
    maxWorkers: 2,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: {
          ...SERVERS,
          name: 'fleet',
          include: ['test/integration/**/*.test.ts'],
          exclude: OUTAGES,
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { ...SERVERS, name: 'outages', include: OUTAGES, sequence: { groupOrder: 1 } } },
    ],
  },
});
