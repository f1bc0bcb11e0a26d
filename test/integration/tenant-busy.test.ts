import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { waitFor } from '../helpers/wait-for.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const SLOW_RESTORE = join(FIXTURES, 'tools', 'slow-restore');
const REAL_RESTORE = {
  postgres: 'pg_restore',
  mysql: existsSync('/usr/bin/mariadb') ? '/usr/bin/mariadb' : 'mysql',
} as const;
const RESTORE_ENV = { postgres: 'TENANTCTL_PG_RESTORE', mysql: 'TENANTCTL_MYSQL_CLIENT' } as const;

async function hasTable(ws: Workspace, slug: string, table: string): Promise<boolean> {
  const db = ws.probe.admin(ws.names(slug).database);
  try {
    return await db.schema.hasTable(table);
  } finally {
    await db.destroy();
  }
}

// SQLite restores copy a file, with no tool to slow down: the overlap is shown on the servers.
for (const engine of selectedEngines().filter((e) => e !== 'sqlite') as Array<'postgres' | 'mysql'>) {
  describe.skipIf(!reachable.includes(engine))(`a tenant busy with another operation, on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it('migrate-all started during a restore reports the tenant busy, never migrates it under the restore, and --retry-failed picks it up', async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      expect((await ws.run(['backup', slug])).code).toBe(0);
      // A new migration after the backup: the restored database will need it.
      writeFileSync(
        join(ws.dir, 'migrations', '20990101000000_add_notes.js'),
        "exports.up = (knex) => knex.schema.createTable('notes', (t) => t.increments('id'));\nexports.down = (knex) => knex.schema.dropTable('notes');\n",
      );

      const restore = ws.start(['restore', slug, '--force'], {
        [RESTORE_ENV[engine]]: SLOW_RESTORE,
        REAL_RESTORE_TOOL: REAL_RESTORE[engine],
        SLOW_TOOL_SECONDS: '5',
      });
      await waitFor(async () => (await ws.json(['show', slug])).data.step === 'restore');

      const { result, data } = await ws.json(['migrate-all', '--tenants', slug]);
      expect(result.code, result.stderr).toBe(1);
      const outcome = data.tenants.find((t: { slug: string }) => t.slug === slug);
      expect(outcome.outcome).toBe('busy');
      expect(outcome.error).toMatch(/restore in progress/);
      expect(data.counts.busy).toBe(1);

      const restored = await restore.done;
      expect(restored.code, restored.stderr).toBe(0);
      // The restore ran alone: the restored database has the backup's schema, without the new table.
      expect(await hasTable(ws, slug, 'notes')).toBe(false);

      const retried = await ws.json(['migrate-all', '--retry-failed']);
      expect(retried.result.code, retried.result.stderr).toBe(0);
      expect(retried.data.tenants.map((t: { slug: string; outcome: string }) => [t.slug, t.outcome])).toEqual([
        [slug, 'migrated'],
      ]);
      expect(await hasTable(ws, slug, 'notes')).toBe(true);
    }, 180_000); // many CLI runs: minutes on a loaded machine
  });
}
