import { describe, expect, it } from 'vitest';
import {
  DESCRIPTORS,
  TOOL_SETTINGS,
  descriptorFor,
  descriptorForUrl,
  urlForms,
} from '../../src/engines/descriptors.js';
import { parseServerUrl } from '../../src/engines/server-spec.js';
import { DRIVERS, backupExtensions, driverFor, driverForBackupFile } from '../../src/engines/drivers.js';

describe('driverForBackupFile', () => {
  it.each([
    ['/b/acme-20260101.pgdump', 'postgres'],
    ['/b/acme-20260101.sql.gz', 'mysql'],
    ['/b/acme-20260101.sqlite.gz', 'sqlite'],
  ])('%s is a %s backup', (file, engine) => {
    expect(driverForBackupFile(file)?.engine).toBe(engine);
  });

  it.each(['/b/acme.sql', '/b/acme.gz', '/b/acme.tar', '/b/pgdump'])('%s is no backup', (file) => {
    expect(driverForBackupFile(file)).toBeUndefined();
  });

  it('lists every extension for messages', () => {
    expect(backupExtensions()).toBe('.pgdump, .sql.gz or .sqlite.gz');
  });
});

describe('isReservedName', () => {
  it('refuses pg_ names on PostgreSQL only', () => {
    expect(driverFor('postgres').isReservedName('pg_acme')).toBe(true);
    expect(driverFor('mysql').isReservedName('pg_acme')).toBe(false);
    expect(driverFor('sqlite').isReservedName('pg_acme')).toBe(false);
  });

  it.each([
    ['postgres', 'postgres'],
    ['postgres', 'template1'],
    ['mysql', 'mysql'],
    ['mysql', 'information_schema'],
    ['sqlite', 'registry'],
  ] as const)('%s keeps %s', (engine, name) => {
    expect(driverFor(engine).isReservedName(name)).toBe(true);
  });

  it.each(['postgres', 'mysql', 'sqlite'] as const)('%s leaves tenant_acme free', (engine) => {
    expect(driverFor(engine).isReservedName('tenant_acme')).toBe(false);
  });
});

describe('engine descriptors', () => {
  it('declare the documented tool settings, in the documented order', () => {
    expect(TOOL_SETTINGS.map((t) => [t.key, t.env, t.default])).toEqual([
      ['pgDump', 'TENANTCTL_PG_DUMP', 'pg_dump'],
      ['pgRestore', 'TENANTCTL_PG_RESTORE', 'pg_restore'],
      ['mysqlDump', 'TENANTCTL_MYSQL_DUMP', undefined],
      ['mysqlClient', 'TENANTCTL_MYSQL_CLIENT', undefined],
    ]);
  });

  it('find the engine by URL scheme, case-insensitively', () => {
    expect(descriptorForUrl('postgresql://db/x')?.engine).toBe('postgres');
    expect(descriptorForUrl('MariaDB://db')?.engine).toBe('mysql');
    expect(descriptorForUrl('sqlite:rel/dir')?.engine).toBe('sqlite');
    expect(descriptorForUrl('oracle://db')).toBeUndefined();
    expect(descriptorForUrl('no scheme')).toBeUndefined();
    expect(urlForms()).toBe('postgres://, mysql://, mariadb:// or sqlite:');
  });

  it('keep the URL error messages', () => {
    expect(() => parseServerUrl('oracle://u:pw@db')).toThrow(
      'unsupported URL scheme "oracle:" (use postgres://, mysql://, mariadb:// or sqlite:)',
    );
    expect(() => parseServerUrl('not a url')).toThrow(
      'a server URL is not a valid URL (expected e.g. postgres://user@host:5432/postgres)',
    );
    expect(() => parseServerUrl('sqlite:')).toThrow('"sqlite:" names no SQLite path');
  });

  it('make file paths absolute and leave server URLs alone', () => {
    expect(descriptorFor('sqlite').absoluteUrl('sqlite:rel/dir', '/work')).toBe('sqlite:/work/rel/dir');
    expect(descriptorFor('sqlite').absoluteUrl('sqlite:///abs', '/work')).toBe('sqlite:/abs');
    expect(descriptorFor('postgres').absoluteUrl('postgres://db/x', '/work')).toBe('postgres://db/x');
  });

  it('have a driver each, and each driver a descriptor', () => {
    expect(DESCRIPTORS.map((d) => d.engine)).toEqual(DRIVERS.map((d) => d.engine));
  });
});
