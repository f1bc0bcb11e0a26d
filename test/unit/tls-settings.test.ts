import { describe, expect, it } from 'vitest';
import { parseServerUrl, describeServer } from '../../src/engines/server-spec.js';
import { descriptorFor } from '../../src/engines/descriptors.js';
import { mysqlTlsFlags } from '../../src/engines/mysql-dump.js';
import { pgTlsEnv } from '../../src/engines/postgres-dump.js';
import { UsageError } from '../../src/core/errors.js';

describe('TLS settings in server URLs', () => {
  it('PostgreSQL: libpq names, stored as mode and paths, given back in the URL and to the tools', () => {
    const spec = parseServerUrl(
      'postgres://app@db.example.com:5432/postgres?sslmode=verify-full&sslrootcert=/etc/ssl/rds.pem&sslcert=/c.pem&sslkey=/k.pem',
    );
    expect(spec.tls).toEqual({ mode: 'verify-full', ca: '/etc/ssl/rds.pem', cert: '/c.pem', key: '/k.pem' });
    expect(describeServer(spec)).toBe(
      'postgres://app@db.example.com:5432/postgres?sslmode=verify-full&sslrootcert=/etc/ssl/rds.pem&sslcert=/c.pem&sslkey=/k.pem',
    );
    expect(pgTlsEnv(spec)).toEqual({
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: '/etc/ssl/rds.pem',
      PGSSLCERT: '/c.pem',
      PGSSLKEY: '/k.pem',
    });
    const postgres = descriptorFor('postgres');
    const url = postgres.connectionUrl(
      postgres.connectionConfig(spec, { database: 't_a', user: 't_a', password: null }),
    );
    expect(url).toBe(
      'postgresql://t_a@db.example.com:5432/t_a?sslmode=verify-full&sslrootcert=/etc/ssl/rds.pem&sslcert=/c.pem&sslkey=/k.pem',
    );
  });

  it('no parameters: no TLS settings, the URL and the tools as before', () => {
    const spec = parseServerUrl('postgres://postgres@127.0.0.1:5432/postgres');
    expect(spec.tls).toBeUndefined();
    expect(describeServer(spec)).toBe('postgres://postgres@127.0.0.1:5432/postgres');
    expect(pgTlsEnv(spec)).toEqual({});
    expect(mysqlTlsFlags(parseServerUrl('mysql://root@127.0.0.1:3306'), { sslMode: false })).toEqual([]);
  });

  it('MySQL: ssl-mode words; MySQL clients get --ssl-mode, MariaDB clients --ssl and --ssl-verify-server-cert', () => {
    const spec = parseServerUrl('mysql://app@db:3306/?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem');
    expect(spec.tls).toEqual({ mode: 'verify-full', ca: '/ca.pem' });
    expect(descriptorFor('mysql').tlsParameters(spec)).toEqual({ 'ssl-mode': 'VERIFY_IDENTITY', 'ssl-ca': '/ca.pem' });
    expect(mysqlTlsFlags(spec, { sslMode: true })).toEqual(['--ssl-mode=VERIFY_IDENTITY', '--ssl-ca=/ca.pem']);
    expect(mysqlTlsFlags(spec, { sslMode: false })).toEqual(['--ssl', '--ssl-ca=/ca.pem', '--ssl-verify-server-cert']);
    const required = parseServerUrl('mariadb://app@db:3306/?ssl-mode=required');
    expect(mysqlTlsFlags(required, { sslMode: false })).toEqual(['--ssl']);
    const off = parseServerUrl('mysql://app@db:3306/?ssl-mode=DISABLED');
    expect(mysqlTlsFlags(off, { sslMode: false })).toEqual(['--skip-ssl']);
  });

  it('refuses what it would otherwise drop: unknown parameters, unknown modes, a certificate without its key', () => {
    for (const url of [
      'postgres://p@h:5432/db?connect_timeout=3',
      'postgres://p@h:5432/db?sslmode=maybe',
      'postgres://p@h:5432/db?sslmode=require&sslcert=/c.pem',
      'mysql://r@h:3306/?ssl-mode=VERIFY_FULL',
      'mysql://r@h:3306/?ssl-ca=',
    ])
      expect(() => parseServerUrl(url), url).toThrow(UsageError);
  });
});
