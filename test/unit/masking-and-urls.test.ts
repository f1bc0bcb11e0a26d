import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { maskUrlPassword } from '../../src/config/resolve-config.js';
import { defaultServerName, describeServer, parseServerUrl } from '../../src/engines/server-spec.js';
import { maskArguments } from '../../src/lifecycle/registry/audit-log.js';

describe('maskArguments', () => {
  it('masks the password of a URL given as its own argument', () => {
    expect(maskArguments(['--server-url', 'postgres://admin:s3cret@db:5432/postgres'])).toEqual([
      '--server-url',
      'postgres://admin:********@db:5432/postgres',
    ]);
  });

  it('masks the password of a URL given as --flag=url', () => {
    const [masked] = maskArguments(['--registry-url=mysql://root:hunter2@db/registry']);
    expect(masked).toBe('--registry-url=mysql://root:********@db/registry');
    expect(masked).not.toContain('hunter2');
  });

  it('masks whatever follows --secret-key', () => {
    expect(maskArguments(['--secret-key', 'abcdef0123', 'list'])).toEqual(['--secret-key', '********', 'list']);
  });

  it('leaves everything else as it was', () => {
    const args = ['create', 'acme', '--plan', 'pro', '--server-url', 'postgres://admin@db/postgres'];
    expect(maskArguments(args)).toEqual(args);
  });
});

describe('maskUrlPassword', () => {
  it('masks only the password', () => {
    expect(maskUrlPassword('postgresql://u:p%40ss@h:1/d')).toBe('postgresql://u:********@h:1/d');
    expect(maskUrlPassword('sqlite:/var/lib/registry.sqlite')).toBe('sqlite:/var/lib/registry.sqlite');
  });
});

describe('parseServerUrl', () => {
  it('reads PostgreSQL URLs with defaults for what is left out', () => {
    expect(parseServerUrl('postgres://db.internal')).toEqual({
      engine: 'postgres',
      host: 'db.internal',
      port: 5432,
      user: 'postgres',
      password: undefined,
      database: undefined,
    });
    expect(parseServerUrl('postgresql://ops:p%40ss@10.0.0.5:6543/admin')).toEqual({
      engine: 'postgres',
      host: '10.0.0.5',
      port: 6543,
      user: 'ops',
      password: 'p@ss',
      database: 'admin',
    });
  });

  it('reads mysql:// and mariadb:// as MySQL, with root and 3306 by default', () => {
    expect(parseServerUrl('mysql://127.0.0.1')).toMatchObject({ engine: 'mysql', port: 3306, user: 'root' });
    expect(parseServerUrl('mariadb://app:pw@db:3307')).toMatchObject({
      engine: 'mysql',
      host: 'db',
      port: 3307,
      user: 'app',
      password: 'pw',
    });
  });

  it('reads sqlite: paths, with or without //', () => {
    expect(parseServerUrl('sqlite:/srv/tenants')).toEqual({ engine: 'sqlite', path: '/srv/tenants' });
    expect(parseServerUrl('sqlite:///srv/tenants')).toEqual({ engine: 'sqlite', path: '/srv/tenants' });
    expect(parseServerUrl('sqlite:relative/dir')).toEqual({ engine: 'sqlite', path: 'relative/dir' });
  });

  it.each(['sqlite:', 'oracle://db', 'not a url', 'http://example.com'])('refuses %j with a usage error', (url) => {
    expect(() => parseServerUrl(url)).toThrow(UsageError);
  });

  it('never repeats a password in its error', () => {
    expect(() => parseServerUrl('redis://u:topsecret@h')).toThrow(/^(?!.*topsecret)/);
  });

  it('names and describes servers without the password', () => {
    const spec = parseServerUrl('postgres://ops:pw@db:5432/postgres');
    expect(defaultServerName(spec)).toBe('postgres-db-5432');
    expect(describeServer(spec)).toBe('postgres://ops@db:5432/postgres');
    expect(describeServer(parseServerUrl('sqlite:/x'))).toBe('sqlite:/x');
  });
});
