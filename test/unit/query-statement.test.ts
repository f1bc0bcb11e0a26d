import { describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/lifecycle/query/aggregate.js';
import { assertSingleRead, statementStructure } from '../../src/lifecycle/query/read-statement.js';

describe('the statement check of tenantctl query', () => {
  it('lets one read through: select, with, values, table, a final semicolon, comments and strings', () => {
    for (const sql of [
      'select 1',
      'SELECT count(*) FROM users;',
      '(select 1) union (select 2)',
      'with x as (select 1 as a) select * from x',
      'values (1), (2)',
      'table users',
      '-- note; insert\nselect \'a;b\', "c;d" /* ; delete */ from users',
      'select $$ ; insert $$, $q$;$q$',
      "select 'it''s; (delete' as x",
      'select * from users where name = :name::text',
    ])
      expect(() => assertSingleRead(sql), sql).not.toThrow();
  });

  it('refuses writes, several statements and writing CTEs', () => {
    for (const [sql, message] of [
      ['insert into users values (1)', /"insert" is not a read/],
      ['update users set a = 1', /not a read/],
      ['drop table users', /not a read/],
      ['call p()', /not a read/],
      ['select 1; delete from users', /several statements/],
      ['select 1;;', /several statements/],
      ['with x as (delete from users returning id) select * from x', /writes/],
      ['with x as materialized ( insert into t values (1) returning *) select 1', /writes/],
      ['', /empty/],
      ['-- only a comment', /empty/],
    ] as const)
      expect(() => assertSingleRead(sql), sql).toThrow(message);
  });

  it('blanks strings and comments, keeping the structure', () => {
    expect(statementStructure('select \'a\' -- c\nfrom t /* x */ where b = "q"')).toBe(
      'select  x  \nfrom t   where b =  x',
    );
  });
});

describe('--aggregate', () => {
  it('sums numbers, numeric strings and bigints; counts tenants with a number; skips the rest', () => {
    const a = new Aggregator('n');
    a.add([{ n: 2 }, { n: '3' }]);
    a.add([{ n: 10n }, { n: null }, { n: 'x' }]);
    a.add([{ m: 1 }]);
    expect(a.result()).toEqual({ column: 'n', tenants: 2, values: 3, sum: 15, min: 2, max: 10, skipped: 3 });
  });
});
