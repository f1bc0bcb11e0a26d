import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines, type TestEngine } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/**
 * Per engine: the name a knexfile gives its client (an alias the knex CLI would show as is), the
 * name tenantctl's own connection has, the dialect both report, and a client of another engine.
 */
const CASES: Record<TestEngine, { alias: string; own: string; dialect: string; other: string }> = {
  sqlite: { alias: 'sqlite3', own: 'better-sqlite3', dialect: 'sqlite3', other: 'pg' },
  postgres: { alias: 'postgresql', own: 'pg', dialect: 'postgresql', other: 'mysql2' },
  mysql: { alias: 'mysql', own: 'mysql2', dialect: 'mysql', other: 'sqlite3' },
};

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`the client a migration sees on ${engine}`, () => {
    const { alias, own, dialect, other } = CASES[engine];
    let ws: Workspace;
    beforeAll(() => {
      // What a migration sees and prints while a create runs it: the replay path (a template runs
      // them once, in its build).
      ws = new Workspace(engine, { env: { TENANTCTL_TEMPLATES: 'off' } });
      const migrations = join(ws.dir, 'seen-migrations');
      mkdirSync(migrations);
      // A migration that branches on the client, as many do; it records what it saw.
      writeFileSync(
        join(migrations, '20240101000000_seen.js'),
        `exports.up = async (knex) => {
  await knex.schema.createTable('seen', (t) => { t.string('client'); t.string('dialect'); });
  await knex('seen').insert({ client: String(knex.client.config.client), dialect: String(knex.client.dialect) });
};
exports.down = async (knex) => knex.schema.dropTable('seen');
`,
      );
      for (const [name, client] of [
        ['alias', alias],
        ['own', own],
        ['other', other],
      ])
        writeFileSync(
          join(ws.dir, `knexfile-${name}.cjs`),
          `module.exports = { client: ${JSON.stringify(client)}, connection: {}, useNullAsDefault: true };\n`,
        );
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    const seen = async (args: string[]) => {
      const slug = ws.slug();
      const created = await ws.run(['create', slug, '--no-seed', '--migrations-dir', 'seen-migrations', ...args]);
      expect(created.code, created.stderr).toBe(0);
      const db = ws.probe.admin(ws.names(slug).database);
      try {
        return (await db('seen').first()) as { client: string; dialect: string };
      } finally {
        await db.destroy();
      }
    };

    it(`a knexfile saying '${alias}': the migration sees '${alias}', dialect '${dialect}'`, async () => {
      expect(await seen(['--knexfile', 'knexfile-alias.cjs'])).toEqual({ client: alias, dialect });
    }, 60_000);

    it(`a knexfile saying '${own}', or none: '${own}'; one of another engine: the tenant's '${own}'`, async () => {
      expect(await seen(['--knexfile', 'knexfile-own.cjs'])).toEqual({ client: own, dialect });
      expect(await seen([])).toEqual({ client: own, dialect });
      expect(await seen(['--knexfile', 'knexfile-other.cjs'])).toEqual({ client: own, dialect });
    }, 90_000);
  });
}
