import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mysqlDriver } from '../../src/engines/mysql-driver.js';
import { tableTotals } from '../../src/engines/mysql-table-totals.js';
import { MARK_TABLE } from '../../src/engines/ownership-mark.js';
import { parseServerUrl } from '../../src/engines/server-spec.js';
import { SERVER_URLS } from '../helpers/engines.js';

const reachable = inject('reachableEngines');

/**
 * Fleet-wide stats on MySQL/MariaDB read InnoDB's statistics instead of information_schema
 * (which opens every table: a minute on a server of thousands of tenants). Both reads must say
 * the same of a tenant's InnoDB tables, whatever shapes they take.
 */
describe.skipIf(!reachable.includes('mysql'))('MySQL table totals', () => {
  const id = randomBytes(4).toString('hex');
  const innodb = `tenantctl_totals_${id}`;
  const mixed = `tenantctl_totals_${id}_aria`;
  let admin: Knex;
  // Databases that do not exist have no entry either way: with them, a read covers more than 20.
  const padding = Array.from({ length: 20 }, (_, i) => `tenantctl_totals_${id}_none_${i}`);
  const fromStatistics = async (database: string) => (await tableTotals(admin, [database, ...padding])).get(database)!;

  beforeAll(async () => {
    admin = knexFactory(mysqlDriver.adminKnexConfig(parseServerUrl(SERVER_URLS.mysql)));
    for (const statement of [
      `create database ${innodb}`,
      `create table ${innodb}.users (id int primary key, email varchar(100), key (email))`,
      `insert into ${innodb}.users select seq, concat('u', seq) from ${innodb}.seq_1_to_500`,
      `create table ${innodb}.events (id int, at date, primary key (id, at)) partition by hash (id) partitions 3`,
      `insert into ${innodb}.events select seq, '2026-01-01' from ${innodb}.seq_1_to_90`,
      `create table ${innodb}.notes (id int primary key, body text, fulltext (body))`,
      `create table ${innodb}.${MARK_TABLE} (id int) comment 'mark'`,
      `create view ${innodb}.user_emails as select email from ${innodb}.users`,
      `create sequence ${innodb}.invoice_numbers`,
      `analyze table ${innodb}.users, ${innodb}.events, ${innodb}.notes`,
      `create database ${mixed}`,
      `create table ${mixed}.users (id int primary key)`,
      `create table ${mixed}.log (id int primary key) engine = aria`,
    ])
      await admin.raw(statement);
  });

  afterAll(async () => {
    await admin.raw(`drop database if exists ${innodb}`);
    await admin.raw(`drop database if exists ${mixed}`);
    await admin.destroy();
  });

  it("reports an InnoDB tenant's tables, rows and bytes as information_schema does, without its views, sequences, partitions, full-text tables or mark", async () => {
    const catalog = (await tableTotals(admin, [innodb], { everyTable: true })).get(innodb)!;
    const statistics = await fromStatistics(innodb);
    expect(catalog.tables).toBe(3);
    expect(statistics.tables).toBe(3);
    expect(statistics.bytes).toBe(catalog.bytes);
    expect(statistics.bytes).toBeGreaterThan(0);
    expect(statistics.rows).toBe(catalog.rows);
    expect(statistics.rows).toBeGreaterThanOrEqual(500);
    // Write times are only in information_schema (InnoDB keeps them in memory).
    expect(catalog.updated).not.toBeNull();
    expect(statistics.updated).toBeNull();
  });

  it('counts only InnoDB tables from the statistics, as documented', async () => {
    const catalog = (await tableTotals(admin, [mixed], { everyTable: true })).get(mixed)!;
    const statistics = await fromStatistics(mixed);
    expect(catalog.tables).toBe(2);
    expect(statistics.tables).toBe(1);
  });

  it('reads InnoDB statistics beyond 20 databases and information_schema up to them', async () => {
    const few = await tableTotals(admin, [innodb, ...padding.slice(0, 18), mixed]);
    const many = await tableTotals(admin, [innodb, ...padding.slice(0, 19), mixed]);
    expect(few.get(mixed)!.tables).toBe(2);
    expect(many.get(mixed)!.tables).toBe(1);
  });
});
