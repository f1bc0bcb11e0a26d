import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { selectedEngines, type TestEngine } from '../helpers/engines.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';
import { REAL_DUMP, DUMP_ENV } from '../helpers/dump-tools.js';

const reachable = inject('reachableEngines');
const NEW_MIGRATION = '20240301000000_add_nickname.js';
const LATEST_BEFORE = '20240101000100_create_audit_log.js';

interface Outcome {
  slug: string;
  outcome: string;
  error?: string;
  backup?: { id: number; file: string; bytes: number };
}

function addMigration(ws: Workspace): void {
  writeFileSync(
    join(ws.dir, 'migrations', NEW_MIGRATION),
    `exports.up = (knex) => knex.schema.alterTable('users', (t) => t.string('nickname'));
exports.down = (knex) => knex.schema.alterTable('users', (t) => t.dropColumn('nickname'));
`,
  );
}

/**
 * How a tenant's backup is made to fail: on a server engine, a dump tool that writes half a dump
 * and exits 1; on SQLite (no tool), a backup directory that cannot be made (a file in its place).
 */
function failingBackup(ws: Workspace, engine: TestEngine, slug: string): Record<string, string> {
  if (engine === 'sqlite') {
    mkdirSync(join(ws.dir, '.tenantctl', 'backups'), { recursive: true });
    writeFileSync(join(ws.dir, '.tenantctl', 'backups', slug), 'not a directory');
    return {};
  }
  return {
    [DUMP_ENV[engine]]: join(FIXTURES, 'tools', 'truncating-dump'),
    REAL_DUMP_TOOL: REAL_DUMP[engine],
    FAKE_DUMP_EXIT: '1',
  };
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`migrate-all --backup-first on ${engine}`, () => {
    let ws: Workspace;
    afterEach(async () => {
      await ws?.cleanup();
    });

    it('backs up each tenant with pending migrations right before migrating it, and none that is up to date', async () => {
      ws = new Workspace(engine);
      const [a, b] = [ws.slug(), ws.slug()];
      for (const slug of [a, b]) expect((await ws.run(['create', slug])).code).toBe(0);
      addMigration(ws);
      const current = ws.slug(); // created with the new migration: nothing pending
      expect((await ws.run(['create', current])).code).toBe(0);

      const { result, data } = await ws.json(['migrate-all', '--backup-first']);
      expect(result.code, result.stderr).toBe(0);
      const outcomes = new Map((data.tenants as Outcome[]).map((t) => [t.slug, t]));
      for (const slug of [a, b]) {
        const outcome = outcomes.get(slug)!;
        expect(outcome).toMatchObject({ outcome: 'migrated', migrations: [NEW_MIGRATION] });
        expect(existsSync(outcome.backup!.file)).toBe(true);
        // The backup is recorded like any other, good, taken before the new migration ran.
        const listed = (await ws.json(['backups', slug])).data as Array<Record<string, unknown>>;
        expect(listed).toEqual([
          expect.objectContaining({ id: outcome.backup!.id, status: 'ok', migration: LATEST_BEFORE }),
        ]);
      }
      expect(outcomes.get(current)).toMatchObject({ outcome: 'up_to_date' });
      expect(outcomes.get(current)!.backup).toBeUndefined();
      expect((await ws.json(['backups', current])).data).toEqual([]);
      const verified = await ws.json(['backup', 'verify', a]);
      expect(verified.result.code, verified.result.stdout).toBe(0);
    });

    it('fails a tenant whose backup fails and leaves it unmigrated; the others go on', async () => {
      ws = new Workspace(engine);
      const [good, bad] = [ws.slug(), ws.slug()];
      for (const slug of [good, bad]) expect((await ws.run(['create', slug])).code).toBe(0);
      addMigration(ws);

      // The bad tenant alone, so the failing tool fails only its backup.
      const failed = await ws.json(['migrate-all', '--backup-first', '--tenants', bad], failingBackup(ws, engine, bad));
      expect(failed.result.code).toBe(1);
      expect(failed.data.tenants[0]).toMatchObject({
        slug: bad,
        outcome: 'failed',
        error: expect.stringMatching(/^backup before migrating failed \(--backup-first\): .*; not migrated$/),
      });
      const status = await ws.json(['migrate-status', bad]);
      expect(status.data.tenants[0].pending).toEqual([NEW_MIGRATION]);
      const records = (await ws.json(['backups', bad])).data as Array<{ status: string }>;
      expect(records.every((r) => r.status === 'failed')).toBe(true);

      const rest = await ws.json(['migrate-all', '--backup-first', '--tenants', good]);
      expect(rest.result.code, rest.result.stderr).toBe(0);
      expect(rest.data.tenants[0]).toMatchObject({ slug: good, outcome: 'migrated' });
    });

    it('migrate <slug> --backup-first backs that tenant up first', async () => {
      ws = new Workspace(engine);
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      addMigration(ws);
      const { result, data } = await ws.json(['migrate', slug, '--backup-first']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.tenants[0]).toMatchObject({ outcome: 'migrated', backup: { id: expect.any(Number) } });
      const human = await ws.run(['migrate', slug, '--backup-first']);
      expect(human.code, human.stderr).toBe(0); // up to date now: no backup taken
      expect(((await ws.json(['backups', slug])).data as unknown[]).length).toBe(1);
    });
  });
}
