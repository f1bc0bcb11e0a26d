import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

// Systems that key tenants by a generated id (tenant_<ObjectId>, client_db_<uuid>): slugPattern id.
for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`slugPattern id on ${engine}`, () => {
    let ws: Workspace;
    const made: Array<{ database: string; user: string | null }> = [];
    beforeAll(() => {
      ws = new Workspace(engine, { env: { TENANTCTL_SLUG_PATTERN: 'id' } });
    });
    afterAll(async () => {
      for (const { database, user } of made) await ws.probe.drop(database, user).catch(() => undefined);
      await ws.cleanup();
    });

    it('creates tenants keyed by an ObjectId and a UUID; names too long for the engine get a hash suffix, said in show', async () => {
      const objectId = randomBytes(12).toString('hex');
      const uuid = randomUUID();
      // The default rule refuses an id that starts with a digit (exit 2), before anything is made.
      const refused = await ws.run(['create', `9${objectId.slice(1)}`], { TENANTCTL_SLUG_PATTERN: 'word' });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/starting with a letter/);

      for (const slug of [objectId, uuid]) {
        const created = await ws.json(['create', slug]);
        expect(created.result.code, created.result.stderr).toBe(0);
        made.push({ database: created.data.database, user: created.data.user ?? null });
        const shown = await ws.json(['show', slug]);
        expect(shown.result.code, shown.result.stderr).toBe(0);
        const full = `tenant_${slug.replaceAll('-', '_')}`;
        expect(shown.data.database).toBe(created.data.database);
        // The user ran the migrations, so it logs in under whatever name it got.
        if (engine === 'mysql' && slug === uuid) {
          expect(shown.data.user).toHaveLength(32);
          expect(shown.data.user).toMatch(/^tenant_[0-9a-f_]+_[0-9a-f]{8}$/);
          expect(shown.data.shortenedFrom).toEqual({ user: full });
          expect((await ws.run(['show', slug])).stdout).toMatch(/shortened with a hash suffix from tenant_/);
        } else {
          expect(shown.data.database).toBe(full);
          expect(shown.data.shortenedFrom).toBeUndefined();
        }
        const stats = await ws.run(['stats', slug]);
        expect(stats.code, stats.stderr).toBe(0);
      }
      // Under the word rule again, the tenants made as ids are still found.
      const found = await ws.run(['show', uuid], { TENANTCTL_SLUG_PATTERN: 'word' });
      expect(found.code, found.stderr).toBe(0);
      for (const slug of [objectId, uuid])
        expect((await ws.run(['delete', slug, '--yes', '--no-backup'])).code).toBe(0);
    }, 120_000);
  });
}
