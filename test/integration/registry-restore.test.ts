import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registryDatabase, type RegistryDatabase } from '../helpers/registry-database.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const KEY = randomBytes(32).toString('hex');

/** A migration that holds the migration run's lock a while, so another command meets it. */
const SLOW_MIGRATION = `
exports.up = async (knex) => {
  require('node:fs').writeFileSync('migration-started', String(process.pid)); // in the workspace
  await new Promise((resolve) => setTimeout(resolve, 4000));
  await knex.schema.createTable('slow_table', (t) => t.increments('id'));
};
exports.down = (knex) => knex.schema.dropTable('slow_table');
`;

for (const engine of ['sqlite', 'postgres', 'mysql'] as const) {
  const where = engine === 'sqlite' ? 'the embedded registry' : `a registry on ${engine}`;
  describe.skipIf(!reachable.includes(engine))(`registry backup and restore: ${where}`, () => {
    const registry: RegistryDatabase | undefined = engine === 'sqlite' ? undefined : registryDatabase(engine);
    let ws: Workspace;
    beforeAll(async () => {
      await registry?.create();
      ws = new Workspace(engine, {
        env: registry ? { TENANTCTL_REGISTRY_URL: registry.url, TENANTCTL_SECRET_KEY: KEY } : {},
      });
    });
    afterAll(async () => {
      await ws.cleanup();
      await registry?.drop();
    });
    const slugs = async () => ((await ws.json(['list'])).data as Array<{ slug: string }>).map((t) => t.slug).sort();

    it('restores the registry from its backup after a confirmation, refused while another tenantctl holds a lock', async () => {
      const before = ws.slug();
      expect((await ws.run(['create', before])).code).toBe(0);
      const backup = await ws.json(['registry', 'backup']);
      expect(backup.result.code, backup.result.stderr).toBe(0);
      expect(backup.data).toMatchObject({ status: 'ok', file: expect.stringContaining('_registry') });
      const after = ws.slug();
      expect((await ws.run(['create', after])).code).toBe(0);

      // No terminal and no --yes: refused, nothing changed.
      const unconfirmed = await ws.run(['registry', 'restore', '--from', backup.data.file]);
      expect(unconfirmed.code).toBe(2);
      expect(unconfirmed.stderr).toMatch(/pass --yes/);
      expect(await slugs()).toEqual([before, after].sort());

      // A migration run holds its lock: refused (exit 6), nothing changed.
      writeFileSync(join(ws.dir, 'migrations', '20240301000000_slow.js'), SLOW_MIGRATION);
      const running = ws.start(['migrate-all', '--concurrency', '1']);
      await waitFor(async () => existsSync(join(ws.dir, 'migration-started')));
      const locked = await ws.run(['registry', 'restore', '--from', backup.data.file, '--yes']);
      expect(locked.code, locked.stderr).toBe(6);
      expect(locked.stderr).toMatch(/another tenantctl holds the registry lock/);
      expect((await running.done).code).toBe(0);
      rmSync(join(ws.dir, 'migrations', '20240301000000_slow.js'));
      expect(await slugs()).toEqual([before, after].sort());

      const restored = await ws.json(['registry', 'restore', '--from', backup.data.file, '--yes']);
      expect(restored.result.code, restored.result.stderr).toBe(0);
      expect(restored.data).toMatchObject({ file: backup.data.file, tenants: 1, replacedReadable: true });
      expect(await slugs()).toEqual([before]);
      // The backup's own record, caught running inside its dump, is completed; the restore is in the log.
      const records = (await ws.json(['backups', '_registry'])).data as Array<{ file: string; status: string }>;
      expect(records.find((r) => r.file === backup.data.file)?.status).toBe('ok');
      const log = (await ws.json(['log'])).data as Array<{ command: string }>;
      expect(log[0]?.command).toBe('registry restore');
      // The old form still backs the registry up.
      const old = await ws.json(['backup', '--registry']);
      expect(old.result.code, old.result.stderr).toBe(0);
      expect(old.data.registry.status).toBe('ok');
    });

    it('restores a registry that is gone (the disaster it is for)', async () => {
      const backup = await ws.json(['registry', 'backup']);
      expect(backup.result.code, backup.result.stderr).toBe(0);
      const known = await slugs();
      if (registry) {
        const quoted = engine === 'postgres' ? `"${registry.name}"` : `\`${registry.name}\``;
        await registry.admin.raw(`drop database ${quoted}${engine === 'postgres' ? ' with (force)' : ''}`);
      } else
        for (const suffix of ['', '-wal', '-shm'])
          rmSync(join(ws.dir, '.tenantctl', `registry.sqlite${suffix}`), { force: true });
      const restored = await ws.json(['registry', 'restore', '--from', backup.data.file, '--yes']);
      expect(restored.result.code, restored.result.stderr).toBe(0);
      expect(restored.data.replacedReadable).toBe(false);
      expect(await slugs()).toEqual(known);
    });
  });
}
