import { join } from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  REGISTRY_MIGRATION_COUNT,
  REGISTRY_MIGRATIONS_TABLE,
  registryMigrationSource,
} from '../../src/registry/schema/index.js';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';

const reachable = inject('reachableEngines');

// The embedded registry is the same whatever engine the tenants are on: SQLite tenants suffice.
for (const engine of selectedEngines().filter((e) => e === 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))('upgrading a registry to structured state (006)', () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    const withRegistry = async <T>(fn: (knex: Knex) => Promise<T>): Promise<T> => {
      const knex = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
      try {
        return await fn(knex);
      } finally {
        await knex.destroy();
      }
    };

    it('moves the status a delete returns to from status_reason into previous_status, and delete finishes with it', async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      // A registry written by the previous tenantctl, with a delete of a suspended tenant killed
      // after its backup: the status to return to lives only in the reason text.
      await withRegistry(async (knex) => {
        // Back to the schema before 006: undo the newest migration until 006 is undone too. SQLite
        // drops a column by rebuilding the table, which the tenants' foreign key would refuse.
        await knex.raw('pragma foreign_keys = off');
        while (await knex.schema.hasColumn('tenantctl_tenants', 'previous_status')) {
          await knex.migrate.down({ migrationSource: registryMigrationSource, tableName: REGISTRY_MIGRATIONS_TABLE });
        }
        expect(await knex.schema.hasColumn('tenantctl_tenants', 'previous_status')).toBe(false);
        await knex('tenantctl_tenants')
          .where({ slug })
          .update({ status: 'deleting', step: 'connections', status_reason: 'deleting (was suspended)' });
      });

      const shown = await ws.json(['show', slug]); // any command upgrades the registry first
      expect(shown.result.code, shown.result.stderr).toBe(0);
      expect(shown.data.status).toBe('deleting');
      expect(await withRegistry((knex) => knex('tenantctl_tenants').where({ slug }).first('previous_status'))).toEqual({
        previous_status: 'suspended',
      });

      const deleted = await ws.json(['delete', slug, '--yes']);
      expect(deleted.result.code, deleted.result.stderr).toBe(0);
      expect(deleted.data).toMatchObject({ resumed: true, tenant: { status: 'deleted' } });
      expect(await ws.probe.databaseExists(ws.names(slug).database)).toBe(false);
    }, 180_000); // many CLI runs: minutes on a loaded machine

    it('applies migrations a registry skipped, even when it has the newest one', async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      const config = { migrationSource: registryMigrationSource, tableName: REGISTRY_MIGRATIONS_TABLE };
      // A registry written by a build that had 011 but not 009 and 010.
      await withRegistry(async (knex) => {
        await knex.raw('pragma foreign_keys = off');
        while (await knex.schema.hasTable('tenantctl_moves')) await knex.migrate.down(config); // back to before 009
        await knex.migrate.up({ ...config, name: '011-metadata-index' });
        expect(await knex.schema.hasTable('tenantctl_moves')).toBe(false);
      });

      const shown = await ws.json(['show', slug]); // any command upgrades the registry first
      expect(shown.result.code, shown.result.stderr).toBe(0);
      await withRegistry(async (knex) => {
        expect(await knex.schema.hasTable('tenantctl_moves')).toBe(true);
        const names = (await knex(REGISTRY_MIGRATIONS_TABLE).pluck('name')) as string[];
        expect(names).toEqual(expect.arrayContaining(['009-moves', '010-rollouts', '011-metadata-index']));
        expect(names).toHaveLength(REGISTRY_MIGRATION_COUNT);
      });
      expect((await ws.run(['delete', slug, '--yes'])).code).toBe(0);
    }, 180_000);
  });
}
