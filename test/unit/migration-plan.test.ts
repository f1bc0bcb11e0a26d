import { describe, expect, it } from 'vitest';
import { appliedFromStamp, parseStamp, STAMP_PREFIX } from '../../src/engines/postgres-stamp.js';
import { migrationFingerprint } from '../../src/tenant-schema/migration-fingerprint.js';
import { planMigrations } from '../../src/tenant-schema/run-migrations.js';

describe('planMigrations', () => {
  const available = ['001_a.js', '002_b.js', '003_c.js'];

  it('lists what is available but not applied, in directory order', () => {
    expect(planMigrations(available, ['001_a.js'])).toEqual({ pending: ['002_b.js', '003_c.js'], unknown: [] });
    expect(planMigrations(available, ['003_c.js', '001_a.js'])).toEqual({ pending: ['002_b.js'], unknown: [] });
  });

  it('treats a missing migration table (null) as nothing applied', () => {
    expect(planMigrations(available, null)).toEqual({ pending: available, unknown: [] });
  });

  it('reports applied migrations no longer in the directory as unknown', () => {
    expect(planMigrations(['001_a.js'], ['001_a.js', '000_gone.js'])).toEqual({
      pending: [],
      unknown: ['000_gone.js'],
    });
  });
});

describe('migrationFingerprint', () => {
  it('is the count and an md5 of the sorted names, whatever the order they ran in', () => {
    const fp = migrationFingerprint(['002_b.js', '001_a.js']);
    expect(fp).toMatch(/^2:[0-9a-f]{32}$/);
    expect(migrationFingerprint(['001_a.js', '002_b.js'])).toBe(fp);
    expect(migrationFingerprint(['001_a.js', '003_c.js'])).not.toBe(fp);
  });

  it('is "0:" for none', () => {
    expect(migrationFingerprint([])).toBe('0:');
  });
});

describe('the PostgreSQL fingerprint comment', () => {
  const available = ['001_a.js', '002_b.js', '003_c.js'];
  const stampOf = (names: string[], latest: string) => `${STAMP_PREFIX}${migrationFingerprint(names)}:${latest}`;

  it('parses count, fingerprint and latest name', () => {
    const fp = migrationFingerprint(['001_a.js', '002_b.js']);
    expect(parseStamp(stampOf(['001_a.js', '002_b.js'], '002_b.js'))).toEqual({
      fingerprint: fp,
      count: 2,
      latest: '002_b.js',
    });
  });

  it('parses the stamp of a database with no migrations', () => {
    expect(parseStamp(`${STAMP_PREFIX}0::`)).toEqual({ fingerprint: '0:', count: 0, latest: null });
  });

  it('ignores any other comment, and none', () => {
    expect(parseStamp(null)).toBeNull();
    expect(parseStamp('the billing database')).toBeNull();
    expect(parseStamp(`${STAMP_PREFIX}garbage`)).toBeNull();
    expect(parseStamp(`${STAMP_PREFIX}2:NOTHEX:002_b.js`)).toBeNull();
  });

  it('proves the applied migrations when they are the first N available', () => {
    const stamp = parseStamp(stampOf(['001_a.js', '002_b.js'], '002_b.js'));
    expect(appliedFromStamp(stamp, available)).toEqual(['001_a.js', '002_b.js']);
  });

  it('proves nothing when the set differs, is longer than available, or is missing', () => {
    expect(appliedFromStamp(parseStamp(stampOf(['001_a.js', '003_c.js'], '003_c.js')), available)).toBeUndefined();
    expect(appliedFromStamp(parseStamp(stampOf([...available, '004_d.js'], '004_d.js')), available)).toBeUndefined();
    expect(appliedFromStamp(null, available)).toBeUndefined();
  });
});
