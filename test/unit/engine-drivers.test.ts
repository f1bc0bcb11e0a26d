import { describe, expect, it } from 'vitest';
import { backupExtensions, driverFor, driverForBackupFile } from '../../src/engines/drivers.js';

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
