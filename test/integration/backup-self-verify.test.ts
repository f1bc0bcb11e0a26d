import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';

const reachable = inject('reachableEngines');

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`backup verify --restore-test on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    const addUsers = async (slug: string, count: number, tag: string) => {
      const db = ws.probe.admin(ws.names(slug).database);
      try {
        await db('users').insert(
          Array.from({ length: count }, (_, i) => ({ email: `${tag}${i}@t.test`, name: `${tag} ${i}` })),
        );
      } finally {
        await db.destroy();
      }
    };
    const usersKey = engine === 'postgres' ? 'public.users' : 'users';

    it('compares the restored copy with the counts recorded at backup time, not with the live database', async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      await addUsers(slug, 20, 'a');
      const first = await ws.json(['backup', slug]);
      expect(first.result.code, first.result.stderr).toBe(0);
      const usersAtBackup = first.data.tenants.tenants[0].backup.rowCounts[usersKey];
      expect(usersAtBackup).toBeGreaterThanOrEqual(20);

      // The tenant keeps writing after its backup: the backup is still good.
      await addUsers(slug, 7, 'b');
      const passed = await ws.json(['backup', 'verify', slug, '--restore-test']);
      expect(passed.result.code, passed.result.stdout).toBe(0);
      expect(passed.data.backups[0]).toMatchObject({
        ok: true,
        detail: expect.stringMatching(/rows restored, as recorded/),
      });

      // A second backup whose file is replaced by the first one's (checksum re-recorded, so only
      // the restore test can tell): fewer users come back than were recorded.
      const second = await ws.json(['backup', slug]);
      expect(second.data.tenants.tenants[0].backup.rowCounts[usersKey]).toBe(usersAtBackup + 7);
      const damaged = second.data.tenants.tenants[0].backup.file as string;
      copyFileSync(first.data.tenants.tenants[0].backup.file, damaged);
      const registry = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
      try {
        const sha256 = createHash('sha256').update(readFileSync(damaged)).digest('hex');
        await registry('tenantctl_backups')
          .where({ file: damaged })
          .update({ sha256, bytes: statSync(damaged).size });
      } finally {
        await registry.destroy();
      }
      const failed = await ws.json(['backup', 'verify', slug, '--restore-test']);
      expect(failed.result.code).toBe(1);
      expect(failed.data.backups[0].ok).toBe(false);
      expect(failed.data.backups[0].problem).toContain(
        `${usersKey}: ${usersAtBackup} rows restored, ${usersAtBackup + 7} when backed up`,
      );
    }, 180_000); // many CLI runs: minutes on a loaded machine

    if (engine === 'postgres') {
      it('counts rows in the snapshot pg_dump reads: exact while the application writes during the dump', async () => {
        const slug = ws.slug();
        expect((await ws.run(['create', slug])).code).toBe(0);
        const { database } = ws.names(slug);
        const db = ws.probe.admin(database);
        try {
          // Enough data that the dump takes a while, so inserts land while it runs.
          await db.raw(
            'create table bulk as select g as id, repeat(md5(g::text), 8) as body from generate_series(1, 400000) g',
          );
          // The tenant's own table: backups read as the tenant's user.
          await db.raw(`alter table bulk owner to "${ws.names(slug).user}"`);
          const backup = ws.start(['backup', slug, '--json']);
          let written = 0;
          let running = true;
          void backup.done.then(() => (running = false));
          while (running) {
            await db('users').insert({ email: `w${written}@t.test`, name: `writer ${written}` });
            written++;
          }
          const result = await backup.done;
          expect(result.code, result.stderr).toBe(0);
          expect(written).toBeGreaterThan(0);
          const counts = JSON.parse(result.stdout).tenants.tenants[0].backup.rowCounts;
          // Before and after counts would disagree on users (written meanwhile) and record null.
          expect(counts[usersKey]).toEqual(expect.any(Number));
          expect(counts['public.bulk']).toBe(400000);
        } finally {
          await db.destroy();
        }
        const verified = await ws.json(['backup', 'verify', slug, '--restore-test']);
        expect(verified.result.code, verified.result.stdout).toBe(0);
        expect(verified.data.backups[0].detail).toMatch(/rows restored, as recorded/);
      }, 180_000);
    }
  });
}
