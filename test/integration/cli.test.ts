import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LATEST_REGISTRY_MIGRATION } from '../../src/registry/schema/index.js';
import { Workspace } from '../helpers/workspace.js';

// How the CLI behaves for a person and for scripts: exit codes, clean stdout, one-line errors.
describe('tenantctl as a script sees it', () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = new Workspace('sqlite');
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it('prints help with every command and exits 0', async () => {
    const result = await ws.run(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['init', 'create', 'list', 'show', 'config']) expect(result.stdout).toContain(command);
  });

  it('exits 2 on an unknown command or option', async () => {
    expect((await ws.run(['frobnicate'])).code).toBe(2);
    expect((await ws.run(['list', '--bogus'])).code).toBe(2);
    expect((await ws.run(['create'])).code).toBe(2);
    expect((await ws.run(['create', 'x', '--set', 'novalue'])).code).toBe(2);
    expect((await ws.run(['list', '--status', 'sleeping'])).code).toBe(2);
  });

  it('exits 3 for an unknown tenant, with a JSON error on stdout under --json', async () => {
    const plain = await ws.run(['show', 'nobody']);
    expect(plain.code).toBe(3);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toBe('tenantctl: no tenant "nobody" in the registry\n');
    const json = await ws.run(['show', 'nobody', '--json']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toEqual({
      schemaVersion: 1,
      ok: false,
      error: { code: 'not_found', message: 'no tenant "nobody" in the registry' },
    });
  });

  it('keeps stdout to the result when piped: no colour, no spinner, parseable JSON', async () => {
    const created = await ws.run(['create', ws.slug(), '--json'], { NO_COLOR: undefined, FORCE_COLOR: undefined });
    expect(created.code, created.stderr).toBe(0);
    expect(() => JSON.parse(created.stdout)).not.toThrow();
    const listed = await ws.run(['list'], { NO_COLOR: undefined });
    expect(listed.stdout).not.toMatch(/\u001b\[/);
    expect(created.stderr).not.toMatch(/\u001b\[/);
  });

  it('initialises the registry on demand and says where it is', async () => {
    const { result, data } = await ws.json(['init']);
    expect(result.code).toBe(0);
    expect(data.registry).toBe(`sqlite:${join(ws.dir, '.tenantctl', 'registry.sqlite')}`);
    expect(data.schemaVersion).toBe(LATEST_REGISTRY_MIGRATION);
  });

  it('shows the effective configuration with the source of each value, secrets masked', async () => {
    writeFileSync(join(ws.dir, 'tenantctl.config.json'), JSON.stringify({ seedsDir: 'db/seeds' }));
    try {
      const { data } = await ws.json(['config', '--migrations-dir', 'db/migrations'], {
        TENANTCTL_SERVER_URL: 'postgres://admin:hunter2@db.internal:5432/postgres',
        TENANTCTL_SECRET_KEY: 'ab'.repeat(32),
      });
      const byKey = Object.fromEntries(data.values.map((v: { key: string }) => [v.key, v]));
      expect(byKey.migrationsDir).toMatchObject({ value: join(ws.dir, 'db/migrations'), source: 'flag' });
      expect(byKey.seedsDir).toMatchObject({ value: join(ws.dir, 'db/seeds'), source: 'file' });
      expect(byKey.serverUrl).toMatchObject({
        value: 'postgres://admin:********@db.internal:5432/postgres',
        source: 'env',
      });
      expect(byKey.secretKey).toMatchObject({ value: '********', source: 'env' });
      expect(byKey.databaseNameTemplate).toMatchObject({ value: 'tenant_{slug}', source: 'default' });
      expect(JSON.stringify(data)).not.toMatch(/hunter2|abababab/);
    } finally {
      writeFileSync(join(ws.dir, 'tenantctl.config.json'), '{}');
    }
  });

  it('names the key of a bad config file and exits 2 without touching anything', async () => {
    writeFileSync(
      join(ws.dir, 'tenantctl.config.json'),
      JSON.stringify({ tenantUsers: 'sometimes', migrationDir: 'x' }),
    );
    try {
      const result = await ws.run(['create', ws.slug()]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('"tenantUsers": expected true or false');
      expect(result.stderr).toContain('unknown key "migrationDir"');
    } finally {
      writeFileSync(join(ws.dir, 'tenantctl.config.json'), '{}');
    }
  });
});
