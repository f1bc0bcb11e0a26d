import { describe, expect, it } from 'vitest';
import { isDdl, splitStatements } from '../../src/lifecycle/exec/sql-statements.js';
import { diffStructures } from '../../src/lifecycle/schema/structure-diff.js';
import { structureFingerprint, type SchemaStructure } from '../../src/engines/schema-structure.js';

describe('exec: splitting a SQL file', () => {
  it('splits on semicolons outside strings, quoted names, comments and dollar quotes', () => {
    const sql = `-- a fix
update t set a = 'x; y' where "b;c" = 1;
/* ; */ insert into t (a) values ('it''s; fine');
create function f() returns int language sql as $$ select 1; $$;
  ;
-- trailing comment`;
    expect(splitStatements(sql)).toEqual([
      '-- a fix\nupdate t set a = \'x; y\' where "b;c" = 1',
      "/* ; */ insert into t (a) values ('it''s; fine')",
      'create function f() returns int language sql as $$ select 1; $$',
    ]);
  });

  it('refuses an empty file and the mysql client DELIMITER', () => {
    expect(() => splitStatements('-- nothing\n;')).toThrow(/no statement/);
    expect(() => splitStatements('DELIMITER //\nselect 1 //')).toThrow(/DELIMITER/);
  });

  it('knows DDL from DML, comments before it too', () => {
    expect(isDdl('/* x */ ALTER TABLE t add c int')).toBe(true);
    expect(isDdl('-- x\ntruncate t')).toBe(true);
    expect(isDdl("update t set a = 'create'")).toBe(false);
  });
});

describe('schema diff: normalised structures', () => {
  const base = (): SchemaStructure => ({
    tables: {
      users: {
        columns: {
          id: { type: 'integer', nullable: false, default: null },
          email: { type: 'text', nullable: false, default: null },
        },
        primaryKey: ['id'],
        indexes: ['unique (email)'],
        indexNames: { 'unique (email)': 'users_email_unique' },
        foreignKeys: [],
        checks: [],
      },
    },
    views: {},
    triggers: {},
    functions: {},
    sequences: [],
  });
  const sql = { quoteIdentifier: (n: string) => `"${n}"`, dropIndexStatement: (n: string) => `drop index "${n}";` };

  it('index names and catalog order do not count; tenantctl objects are left out', () => {
    const other = base();
    other.tables.users!.indexNames = { 'unique (email)': 'some_other_name' };
    other.tables.users!.columns = { email: other.tables.users!.columns.email!, id: other.tables.users!.columns.id! };
    other.tables.tenantctl_owner = { ...base().tables.users! };
    expect(structureFingerprint(other)).toBe(structureFingerprint(base()));
    expect(diffStructures(base(), other, sql)).toEqual([]);
  });

  it('an extra index is dropped, a missing plain one created, a unique one by hand', () => {
    const extra = base();
    extra.tables.users!.indexes.push('(email)');
    extra.tables.users!.indexNames['(email)'] = 'hand_idx';
    expect(diffStructures(base(), extra, sql)).toEqual([
      { change: '+', kind: 'index', object: 'users (email) (hand_idx)', fix: 'drop index "hand_idx";' },
    ]);
    expect(diffStructures(extra, base(), sql)[0]!.fix).toBe('create index "hand_idx" on "users" ("email")');
    const noUnique = base();
    noUnique.tables.users!.indexes = [];
    expect(diffStructures(base(), noUnique, sql)[0]!.fix).toBeUndefined();
  });
});
