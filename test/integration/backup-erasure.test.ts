import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

interface BackupJson {
  id: number;
  status: string;
  file: string;
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`deleted tenants' backups on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    const created = async (): Promise<string> => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      expect((await ws.run(['backup', slug])).code).toBe(0);
      return slug;
    };
    const backupsOf = async (slug: string) => (await ws.json(['backups', slug])).data as BackupJson[];
    /** Moves a deleted tenant's delete `days` into the past, as if it happened then. */
    const deletedDaysAgo = async (slug: string, days: number) => {
      const registry = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
      try {
        const at = new Date(Date.now() - days * 86_400_000).toISOString();
        await registry('tenantctl_backups').where({ slug }).update({ tenant_deleted_at: at });
      } finally {
        await registry.destroy();
      }
    };
    const erasures = async (slug: string) =>
      ((await ws.json(['log', slug])).data as Array<{ command: string; at: string; detail: any }>).filter(
        (e) => e.command === 'erase-backups',
      );

    it('keeps them deletedRetentionDays after the delete, then backup --all erases them, recorded in the audit log', async () => {
      const [gone, live] = [await created(), await created()];
      const del = await ws.json(['delete', gone, '--yes']);
      expect(del.result.code, del.result.stderr).toBe(0);
      const kept = await backupsOf(gone);
      expect(kept.filter((b) => b.status === 'ok')).toHaveLength(2); // its backup and the final one

      // Within the 30 days: backup --all leaves them, doctor has nothing to say about them.
      expect((await ws.run(['backup', '--all'])).code).toBe(0);
      expect(await backupsOf(gone)).toHaveLength(kept.length);
      const early = await ws.json(['doctor']);
      expect(early.data.findings.filter((f: { kind: string }) => f.kind === 'backups_past_retention')).toEqual([]);

      await deletedDaysAgo(gone, 31);
      const doctor = await ws.json(['doctor']);
      expect(doctor.data.findings).toContainEqual(
        expect.objectContaining({
          kind: 'backups_past_retention',
          tenant: gone,
          fix: expect.stringMatching(/backups prune --deleted/),
        }),
      );

      const { result, data } = await ws.json(['backup', '--all']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.erased.tenants).toEqual([
        expect.objectContaining({ slug: gone, records: kept.length, files: expect.any(Array) }),
      ]);
      for (const b of kept) expect(existsSync(b.file)).toBe(false);
      expect(await backupsOf(gone)).toEqual([]);
      expect((await backupsOf(live)).length).toBeGreaterThanOrEqual(2); // a live tenant's stay
      const [entry] = await erasures(gone);
      expect(entry!.detail).toMatchObject({ reason: 'retention', records: kept.length });
      expect(entry!.detail.files.sort()).toEqual(kept.map((b) => b.file).sort());
      const after = await ws.json(['doctor']);
      expect(after.data.findings.filter((f: { kind: string }) => f.kind === 'backups_past_retention')).toEqual([]);
    });

    it('backups prune --deleted erases them without a backup run (deletedRetentionDays 0: at once)', async () => {
      const gone = await created();
      expect((await ws.run(['delete', gone, '--yes', '--purge'])).code).toBe(0); // row purged too
      expect((await backupsOf(gone)).length).toBe(2);
      expect((await ws.run(['backups', 'prune'])).code).toBe(2); // nothing asked
      const kept = await ws.json(['backups', 'prune', '--deleted']);
      expect(kept.result.code, kept.result.stderr).toBe(0);
      expect(kept.data.erased.tenants).toEqual([]);
      const pruned = await ws.json(['backups', 'prune', '--deleted'], { TENANTCTL_DELETED_RETENTION_DAYS: '0' });
      expect(pruned.result.code, pruned.result.stderr).toBe(0);
      expect(pruned.data.erased.tenants.map((t: { slug: string }) => t.slug)).toEqual([gone]);
      expect(await backupsOf(gone)).toEqual([]);
    });

    it('delete --purge-backups erases them at once, takes no final backup, and says so in the audit log', async () => {
      const slug = await created();
      const [before] = await backupsOf(slug);
      const { result, data } = await ws.json(['delete', slug, '--yes', '--purge-backups']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.steps).toEqual(['connections', 'database', 'user', 'erase_backups']);
      expect(data.backup).toBeNull();
      expect(data.erasedBackups).toMatchObject({ slug, files: [before!.file], records: 1 });
      expect(existsSync(before!.file)).toBe(false);
      expect(await backupsOf(slug)).toEqual([]);
      expect((await erasures(slug))[0]!.detail).toMatchObject({ reason: 'purge', files: [before!.file] });
      // Without a terminal and without --yes it refuses, as delete always does.
      const other = await created();
      expect((await ws.run(['delete', other, '--purge-backups'])).code).toBe(2);
      expect((await backupsOf(other)).length).toBe(1);

      // A tenant deleted earlier, its backups kept: the erasure request comes later.
      expect((await ws.run(['delete', other, '--yes'])).code).toBe(0);
      const later = await ws.json(['delete', other, '--yes', '--purge-backups']);
      expect(later.result.code, later.result.stderr).toBe(0);
      expect(later.data).toMatchObject({ alreadyDeleted: true, erasedBackups: { records: 2 } });
      expect(await backupsOf(other)).toEqual([]);
    });
  });
}
