import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve-config.js';
import { readKnexfile } from '../../src/tenant-schema/knexfile.js';
import { tenantProject } from '../../src/tenant-schema/tenant-project.js';
import { tempDir } from '../helpers/temp-dir.js';

function project(files: Record<string, string>): string {
  const dir = tempDir('tenantctl-knexfile-');
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

describe('readKnexfile', () => {
  it('reads an object, leaving out the connection and the client; directories relative to the knexfile', async () => {
    const dir = project({
      'db/knexfile.cjs': `module.exports = { client: 'pg', connection: 'postgres://app@db/app', searchPath: ['app'],
        migrations: { tableName: 'migration', directory: 'migs', loadExtensions: ['.js'] }, seeds: { directory: './s' } };`,
    });
    const read = await readKnexfile(join(dir, 'db/knexfile.cjs'), 'development');
    expect(read.env).toBeNull();
    expect(read.knex).toEqual({ searchPath: ['app'] });
    expect(read.migrations).toMatchObject({
      tableName: 'migration',
      directory: join(dir, 'db/migs'),
      loadExtensions: ['.js'],
    });
    expect(read.seeds.directory).toBe(join(dir, 'db/s'));
  });

  it('reads one environment of several, and a function (async too), as an ES module', async () => {
    const dir = project({
      'knexfile.mjs': `export default async () => ({ staging: { client: 'pg', migrations: { tableName: 'staged' } },
        development: { client: 'pg', migrations: { tableName: 'dev' } } });`,
    });
    const read = await readKnexfile(join(dir, 'knexfile.mjs'), 'staging');
    expect([read.env, read.migrations.tableName]).toEqual(['staging', 'staged']);
    await expect(readKnexfile(join(dir, 'knexfile.mjs'), 'production')).rejects.toThrow(
      /no environment "production" \(it has staging, development\)/,
    );
  });

  it('a knexfile that throws is a usage error naming it', async () => {
    const dir = project({ 'knexfile.js': `throw new Error('DATABASE_URL is not set');` });
    await expect(readKnexfile(join(dir, 'knexfile.js'), 'development')).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/knexfile .*knexfile\.js could not be loaded: DATABASE_URL is not set/),
    });
  });
});

describe('the knexfile in the configuration', () => {
  it('is found in the working directory, its environment from NODE_ENV, else development', () => {
    const dir = project({ 'knexfile.ts': 'export default {};' });
    expect(resolveConfig({ flags: {}, env: {}, cwd: dir }).config).toMatchObject({
      knexfile: join(dir, 'knexfile.ts'),
      knexEnv: 'development',
    });
    const withEnv = resolveConfig({ flags: {}, env: { NODE_ENV: 'production' }, cwd: dir });
    expect(withEnv.config.knexEnv).toBe('production');
    const none = resolveConfig({ flags: {}, env: {}, cwd: project({}) });
    expect(none.config.knexfile).toBeUndefined();
  });

  it('gives its directories and table below a flag, the environment or the config file', async () => {
    const dir = project({
      'knexfile.cjs': `module.exports = { migrations: { directory: 'db/m', tableName: 'migration' }, seeds: { directory: 'db/s' } };`,
    });
    const fromKnexfile = await tenantProject(resolveConfig({ flags: {}, env: {}, cwd: dir }));
    expect(fromKnexfile).toMatchObject({
      knexfile: join(dir, 'knexfile.cjs'),
      migrationsDir: join(dir, 'db/m'),
      seedsDir: join(dir, 'db/s'),
      migrations: { tableName: 'migration' },
    });
    const configured = resolveConfig({
      flags: { migrationsDir: 'other' },
      env: { TENANTCTL_SEEDS_DIR: 'env-seeds' },
      cwd: dir,
    });
    expect(await tenantProject(configured)).toMatchObject({
      migrationsDir: join(dir, 'other'),
      seedsDir: join(dir, 'env-seeds'),
      migrations: { tableName: 'migration' },
    });
    const without = await tenantProject(resolveConfig({ flags: {}, env: {}, cwd: project({}) }));
    expect(without).toMatchObject({ knexfile: null, migrations: { tableName: 'knex_migrations' } });
  });
});
