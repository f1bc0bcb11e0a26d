import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SQLITE_PACKAGE } from '../../src/engines/sqlite-native.js';
import { cleanEnv, type CliResult } from '../helpers/cli.js';
import { selectedEngines } from '../helpers/engines.js';
import { packedProject } from '../helpers/packed-install.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';

const PROJECT_KNEX = '2.5.1';

/** Records which client name the migration sees and which file its SQLite driver was loaded from. */
const WHICH_DRIVER = `
exports.up = async (knex) => {
  const loaded = Object.values(require.cache).find((m) => m && m.exports === knex.client.driver);
  await knex.schema.createTable('which_driver', (t) => {
    t.string('client');
    t.text('driver');
  });
  await knex('which_driver').insert({ client: knex.client.config.client, driver: loaded ? loaded.filename : 'unknown' });
};
exports.down = (knex) => knex.schema.dropTable('which_driver');
`;

// An application that has its own knex (npm does not dedupe 2.x with tenantctl's 3.x) and
// tenantctl installed from its tarball, better-sqlite3 13 hoisted beside them: on Node 20 that
// package crashes the process (SIGSEGV) when loaded, so the project's knex must never load it.
describe.skipIf(!selectedEngines().includes('sqlite'))('tenantctl installed from its tarball in a project', () => {
  let project: string;
  let app: string;
  const run = (args: string[]) =>
    new Promise<CliResult>((resolve, reject) => {
      const child = spawn(process.execPath, [join(project, 'node_modules', 'tenantctl', 'bin', 'tenantctl'), ...args], {
        cwd: app,
        env: cleanEnv({}),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });

  beforeAll(() => {
    project = packedProject(PROJECT_KNEX);
  }, 900_000); // the first install on a machine downloads every dependency
  beforeEach(() => {
    app = mkdtempSync(join(project, 'app-'));
    mkdirSync(join(app, 'migrations'));
    writeFileSync(join(app, 'migrations', '001_which_driver.js'), WHICH_DRIVER);
  });
  afterEach(() => {
    rmSync(app, { recursive: true, force: true });
  });

  it(
    "create on the embedded default runs the project's knex with the SQLite driver tenantctl chose",
    { timeout: 120_000 },
    async () => {
      const created = await run(['create', 'acme', '--json']);
      expect(created.signal, created.stderr).toBeNull();
      expect(created.code, created.stderr).toBe(0);
      expect(JSON.parse(created.stdout).knex).toMatchObject({ version: PROJECT_KNEX, source: 'project' });
      const tenant = sqliteKnex(join(app, '.tenantctl', 'tenants', 'tenant_acme.sqlite'));
      try {
        const [row] = await tenant('which_driver').select();
        expect(row.client).toBe('better-sqlite3'); // what migrations written for knex expect to see
        expect(row.driver).toContain(`/node_modules/${SQLITE_PACKAGE}/`);
      } finally {
        await tenant.destroy();
      }
    },
  );

  it(
    'a SQLite driver that cannot be loaded is exit 7, naming the package and the Node version',
    { timeout: 120_000 },
    async () => {
      const installed = join(project, 'node_modules', SQLITE_PACKAGE);
      const aside = `${installed}.aside-${process.pid}`;
      renameSync(installed, aside);
      try {
        mkdirSync(installed);
        writeFileSync(join(installed, 'package.json'), JSON.stringify({ name: SQLITE_PACKAGE, main: 'index.js' }));
        writeFileSync(join(installed, 'index.js'), "throw new Error('this build does not load here');\n");
        const created = await run(['create', 'acme']);
        expect(created.signal, created.stderr).toBeNull();
        expect(created.code, created.stderr).toBe(7);
        expect(created.stderr).toContain(SQLITE_PACKAGE);
        expect(created.stderr).toContain(`Node ${process.versions.node}`);
      } finally {
        rmSync(installed, { recursive: true, force: true });
        renameSync(aside, installed);
      }
    },
  );
});
