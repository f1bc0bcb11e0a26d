import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { maskedConfig, resolveConfig } from '../../src/config/resolve-config.js';
import { tempDir } from '../helpers/temp-dir.js';

function dirWithConfig(content?: unknown): string {
  const dir = tempDir('tenantctl-config-');
  if (content !== undefined) writeFileSync(join(dir, 'tenantctl.config.json'), JSON.stringify(content));
  return dir;
}

describe('resolveConfig', () => {
  it('applies defaults relative to the working directory', () => {
    const cwd = dirWithConfig();
    const { config, sources } = resolveConfig({ flags: {}, env: {}, cwd });
    expect(config.registryUrl).toBe(`sqlite:${cwd}/.tenantctl/registry.sqlite`);
    expect(config.serverUrl).toBe(`sqlite:${cwd}/.tenantctl/tenants`);
    expect(config.migrationsDir).toBe(join(cwd, 'migrations'));
    expect(config.tenantUsers).toBe(true);
    expect(sources.registryUrl).toBe('default');
  });

  it('takes flags over environment over file over defaults', () => {
    const cwd = dirWithConfig({
      seedsDir: 'file-seeds',
      migrationsDir: 'file-migrations',
      plan: undefined,
      databaseNameTemplate: 'file_{slug}',
    });
    const { config, sources } = resolveConfig({
      flags: { seedsDir: 'flag-seeds' },
      env: { TENANTCTL_SEEDS_DIR: 'env-seeds', TENANTCTL_MIGRATIONS_DIR: 'env-migrations' },
      cwd,
    });
    expect([config.seedsDir, sources.seedsDir]).toEqual([join(cwd, 'flag-seeds'), 'flag']);
    expect([config.migrationsDir, sources.migrationsDir]).toEqual([join(cwd, 'env-migrations'), 'env']);
    expect([config.databaseNameTemplate, sources.databaseNameTemplate]).toEqual(['file_{slug}', 'file']);
  });

  it('reports every unknown key and bad value together, each by name', () => {
    const cwd = dirWithConfig({ registyUrl: 'typo', tenantUsers: 'maybe', databaseNameTemplate: 'no-slug' });
    let error: { message: string; exitCode: number } | undefined;
    try {
      resolveConfig({ flags: {}, env: { TENANTCTL_SERVER_URL: 'ftp://x' }, cwd });
    } catch (e) {
      error = e as typeof error;
    }
    expect(error?.exitCode).toBe(2);
    expect(error?.message).toContain('unknown key "registyUrl"');
    expect(error?.message).toContain('TENANTCTL_SERVER_URL: must start with');
    expect(error?.message).toContain('"tenantUsers": expected true or false');
    expect(error?.message).toContain('"databaseNameTemplate": must contain {slug}');
  });

  it('refuses a --config file that does not exist', () => {
    expect(() => resolveConfig({ flags: {}, env: {}, cwd: dirWithConfig(), configFile: 'missing.json' })).toThrow(
      /does not exist/,
    );
  });

  it('masks secrets and URL passwords when shown', () => {
    const resolved = resolveConfig({
      flags: {},
      env: { TENANTCTL_SERVER_URL: 'mysql://root:hunter2@db:3306', TENANTCTL_SECRET_KEY: 'a'.repeat(64) },
      cwd: dirWithConfig(),
    });
    const shown = JSON.stringify(maskedConfig(resolved));
    expect(shown).not.toContain('hunter2');
    expect(shown).not.toContain('a'.repeat(64));
    expect(shown).toContain('mysql://root:********@db:3306');
  });
});
