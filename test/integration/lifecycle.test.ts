import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { canQuery } from '../helpers/server-probe.js';
import { waitFor } from '../helpers/wait-for.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
import { SQLITE_PACKAGE } from '../../src/engines/sqlite-native.js';
import { REAL_DUMP, DUMP_ENV } from '../helpers/dump-tools.js';

const reachable = inject('reachableEngines');
const NOBODY = 65534;
const BETTER_SQLITE = createRequire(import.meta.url).resolve(SQLITE_PACKAGE);

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`tenant lifecycle on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    const create = async () => {
      const slug = ws.slug();
      const result = await ws.run(['create', slug]);
      expect(result.code, result.stderr).toBe(0);
      return slug;
    };
    const status = async (slug: string) => (await ws.json(['show', slug])).data;

    /**
     * What the application can do with its own credentials. SQLite: as an unprivileged user
     * owning the file (root ignores file modes), can it write?
     */
    async function appCanWrite(slug: string): Promise<boolean> {
      const { database, user } = ws.names(slug);
      if (engine === 'sqlite') {
        const file = join(ws.dir, '.tenantctl', 'tenants', `${database}.sqlite`);
        const script = `const D = require(${JSON.stringify(BETTER_SQLITE)}); const db = new D(${JSON.stringify(file)}); db.prepare("insert into roles (name) values ('probe-' || hex(randomblob(4)))").run(); db.close();`;
        return spawnSync(process.execPath, ['-e', script], { uid: NOBODY, gid: NOBODY }).status === 0;
      }
      const password = (await ws.json(['show', slug, '--show-password'])).data.password;
      return canQuery(ws.probe.connectAs(database, user, password), 'select count(*) from users');
    }

    /** SQLite: the application's user owns the file and may create its journal next to it. */
    function handFileToApp(slug: string): void {
      if (engine !== 'sqlite') return;
      const dir = join(ws.dir, '.tenantctl', 'tenants');
      for (const d of [ws.dir, join(ws.dir, '.tenantctl')]) chmodSync(d, 0o755);
      chmodSync(dir, 0o777);
      for (const f of readdirSync(dir).filter((f) => f.startsWith(ws.names(slug).database)))
        chownSync(join(dir, f), NOBODY, NOBODY);
    }

    it('suspends in the database: the user is locked out, an open session ends, the data stays; reactivate undoes it', async () => {
      const slug = await create();
      handFileToApp(slug);
      expect(await appCanWrite(slug)).toBe(true);
      const { database, user } = ws.names(slug);

      // A session the application holds open when the suspension comes.
      let open: ReturnType<typeof ws.probe.connectAs> | undefined;
      if (engine !== 'sqlite') {
        open = ws.probe.connectAs(database, user, (await ws.json(['show', slug, '--show-password'])).data.password);
        await open.raw('select 1');
      }
      try {
        const suspended = await ws.json(['suspend', slug, '--reason', 'invoice overdue']);
        expect(suspended.result.code, suspended.result.stderr).toBe(0);
        expect(suspended.data).toMatchObject({
          changed: true,
          enforced: true,
          tenant: { status: 'suspended', statusReason: 'invoice overdue' },
        });
        expect(await appCanWrite(slug)).toBe(false);
        if (open) await expect(open.raw('select 1')).rejects.toThrow();
      } finally {
        await open?.destroy();
      }
      if (engine === 'sqlite')
        expect(statSync(join(ws.dir, '.tenantctl', 'tenants', `${database}.sqlite`)).mode & 0o777).toBe(0o444);

      const again = await ws.json(['suspend', slug]);
      expect(again.result.code).toBe(0);
      expect(again.data.changed).toBe(false);
      expect(again.data.message).toMatch(/already suspended \(invoice overdue\)/);

      const reactivated = await ws.json(['reactivate', slug]);
      expect(reactivated.result.code, reactivated.result.stderr).toBe(0);
      expect(reactivated.data.tenant).toMatchObject({ status: 'active', statusReason: null });
      expect(await appCanWrite(slug)).toBe(true);
      const db = ws.probe.admin(database);
      try {
        expect(await db('roles').whereIn('name', ['admin', 'member', 'viewer']).count({ n: '*' })).toEqual([
          { n: engine === 'postgres' ? '3' : 3 },
        ]);
      } finally {
        await db.destroy();
      }
      const twice = await ws.json(['reactivate', slug]);
      expect(twice.data).toMatchObject({ changed: false, message: expect.stringMatching(/already active/) });
    });

    it('refuses to delete without confirmation when there is no terminal, and changes nothing', async () => {
      const slug = await create();
      const refused = await ws.run(['delete', slug]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/pass --yes/);
      expect(await ws.probe.databaseExists(ws.names(slug).database)).toBe(true);
      expect((await status(slug)).status).toBe('active');
    });

    it('deletes after a final backup, keeps the record, and purges it on request; --dry-run does nothing', async () => {
      const slug = await create();
      const { database, user } = ws.names(slug);
      const dry = await ws.json(['delete', slug, '--dry-run']);
      expect(dry.data.steps).toEqual(['backup', 'connections', 'database', 'user']);
      expect(await ws.probe.databaseExists(database)).toBe(true);

      const deleted = await ws.json(['delete', slug, '--yes']);
      expect(deleted.result.code, deleted.result.stderr).toBe(0);
      expect(existsSync(deleted.data.backup.file)).toBe(true);
      expect(await ws.probe.databaseExists(database)).toBe(false);
      if (user) expect(await ws.probe.userExists(user)).toBe(false);
      expect(await status(slug)).toMatchObject({ status: 'deleted', step: null });

      // The backup restores into a new tenant: nothing was lost.
      const clone = ws.slug('back-');
      expect((await ws.run(['restore', slug, '--as', clone])).code).toBe(0);

      const repeat = await ws.json(['delete', slug, '--yes']);
      expect(repeat.data).toMatchObject({ alreadyDeleted: true });
      expect((await ws.run(['suspend', slug])).code).toBe(4);
      expect((await ws.run(['update', slug, '--plan', 'pro'])).code).toBe(4);
      expect((await ws.run(['delete', slug, '--yes', '--purge'])).code).toBe(0);
      expect((await ws.run(['show', slug])).code).toBe(3);
    });

    it('finishes a delete that was interrupted after it dropped nothing yet, and never leaves a database without a row', async () => {
      const slug = await create();
      const { database } = ws.names(slug);
      // The state a delete killed right after recording its `database` step leaves behind.
      const registry = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
      try {
        await registry('tenantctl_tenants')
          .where({ slug })
          .update({ status: 'deleting', step: 'database', status_reason: 'deleting (was active)' });
      } finally {
        await registry.destroy();
      }
      expect(await ws.probe.databaseExists(database)).toBe(true);
      const finished = await ws.json(['delete', slug, '--yes']);
      expect(finished.result.code, finished.result.stderr).toBe(0);
      expect(finished.data).toMatchObject({ resumed: true, steps: ['connections', 'database', 'user'] });
      expect(await ws.probe.databaseExists(database)).toBe(false);
      expect((await status(slug)).status).toBe('deleted');
    });

    if (engine !== 'sqlite') {
      it('completes a delete killed (kill -9) during its final backup', async () => {
        const slug = await create();
        const { database } = ws.names(slug);
        const env = { [DUMP_ENV[engine]]: join(FIXTURES, 'tools', 'slow-dump'), REAL_DUMP_TOOL: REAL_DUMP[engine] };
        const killed = ws.start(['delete', slug, '--yes'], env);
        await waitFor(async () => (await status(slug)).step === 'backup');
        killed.child.kill('SIGKILL');
        await killed.done;
        expect(await status(slug)).toMatchObject({ status: 'deleting', step: 'backup' });
        expect(await ws.probe.databaseExists(database)).toBe(true);
        const finished = await ws.json(['delete', slug, '--yes']);
        expect(finished.result.code, finished.result.stderr).toBe(0);
        expect(finished.data.resumed).toBe(true);
        expect(finished.data.backup).not.toBeNull();
        expect(await ws.probe.databaseExists(database)).toBe(false);
      });

      it('drops nothing when the final backup fails', async () => {
        const slug = await create();
        const env = {
          [DUMP_ENV[engine]]: join(FIXTURES, 'tools', 'truncating-dump'),
          REAL_DUMP_TOOL: REAL_DUMP[engine],
        };
        const failed = await ws.run(['delete', slug, '--yes'], env);
        expect(failed.code).toBe(1);
        expect(failed.stderr).toMatch(/nothing was deleted/);
        expect(await ws.probe.databaseExists(ws.names(slug).database)).toBe(true);
        expect(await status(slug)).toMatchObject({
          status: 'active',
          step: null,
          lastError: expect.stringMatching(/final backup failed/),
        });
        expect(await appCanWrite(slug)).toBe(true);
      });
    }

    it('updates name, plan and metadata without touching the database', async () => {
      const slug = await create();
      const { data } = await ws.json([
        'update',
        slug,
        '--name',
        'Globex',
        '--plan',
        'enterprise',
        '--set',
        'region=eu',
        '--set',
        'tier=gold',
      ]);
      expect(data).toMatchObject({
        changed: ['name', 'plan', 'metadata'],
        tenant: { name: 'Globex', plan: 'enterprise', metadata: { region: 'eu', tier: 'gold' } },
      });
      const unset = await ws.json(['update', slug, '--unset', 'tier']);
      expect(unset.data.tenant.metadata).toEqual({ region: 'eu' });
      const same = await ws.json(['update', slug, '--plan', 'enterprise']);
      expect(same.data.changed).toEqual([]);
      expect((await ws.run(['update', 'nobody-here', '--plan', 'x'])).code).toBe(3);
      expect((await ws.run(['update', slug])).code).toBe(2);
    });

    it('writes an audit entry for every change, newest first, with outcome and error, secrets masked', async () => {
      const slug = await create();
      await ws.run(['suspend', slug, '--reason', 'audit test']);
      await ws.run(['suspend', slug]);
      await ws.run(['reactivate', slug, '--registry-url', `sqlite:${join(ws.dir, '.tenantctl', 'registry.sqlite')}`]);
      await ws.run(['delete', slug, '--yes', '--no-backup']);
      await ws.run(['suspend', slug]);
      const { data } = await ws.json(['log', slug, '--limit', '10']);
      expect(data.map((e: { command: string; outcome: string }) => [e.command, e.outcome])).toEqual([
        ['suspend', 'failed'],
        ['delete', 'ok'],
        ['reactivate', 'ok'],
        ['suspend', 'noop'],
        ['suspend', 'ok'],
        ['create', 'ok'],
      ]);
      expect(data[0].error).toMatch(/is deleted/);
      expect(data[4].arguments).toEqual(['suspend', slug, '--reason', 'audit test']);
      expect(data[4]).toMatchObject({ tenant: slug, user: expect.any(String), host: expect.any(String) });
      expect((await ws.json(['log', slug, '--limit', '2'])).data).toHaveLength(2);
    });
  });
}

describe('the audit log', () => {
  it('never stores a password given on the command line', async () => {
    const ws = new Workspace('sqlite');
    try {
      const created = await ws.run([
        'create',
        'acme',
        '--server-url',
        `sqlite:${join(ws.dir, 'tenants')}`,
        '--registry-url',
        `sqlite:${join(ws.dir, '.tenantctl', 'registry.sqlite')}`,
      ]);
      expect(created.code, created.stderr).toBe(0);
      const updated = await ws.run([
        'update',
        'acme',
        '--plan',
        'x',
        '--server-url',
        'postgres://admin:hunter2@db.internal:5432/postgres',
      ]);
      expect(updated.code, updated.stderr).toBe(0);
      const { data } = await ws.json(['log']);
      expect(JSON.stringify(data)).not.toContain('hunter2');
      expect(data[0].arguments).toContain('postgres://admin:********@db.internal:5432/postgres');
    } finally {
      await ws.cleanup();
    }
  });
});
