import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { canQuery } from '../helpers/server-probe.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
import { REAL_DUMP, DUMP_ENV } from '../helpers/dump-tools.js';

const reachable = inject('reachableEngines');
const TOOLS = join(FIXTURES, 'tools');

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

interface BackupJson {
  id: number;
  slug: string;
  status: string;
  file: string;
  bytes: number;
  sha256: string;
  migration: string | null;
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`backup and restore on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    async function tenantWithRows(): Promise<string> {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      const db = ws.probe.admin(ws.names(slug).database);
      try {
        await db('users').insert(Array.from({ length: 50 }, (_, i) => ({ email: `u${i}@t.test`, name: `User ${i}` })));
      } finally {
        await db.destroy();
      }
      return slug;
    }

    async function backup(slug: string): Promise<BackupJson> {
      const { result, data } = await ws.json(['backup', slug]);
      expect(result.code, result.stderr).toBe(0);
      return data.tenants.tenants[0].backup as BackupJson;
    }

    const userEmails = async (slug: string) => {
      const db = ws.probe.admin(ws.names(slug).database);
      try {
        return await db('users').orderBy('email').pluck('email');
      } finally {
        await db.destroy();
      }
    };

    it('writes a 0600 file in a 0700 directory, recorded with its size, checksum and migration', async () => {
      const slug = await tenantWithRows();
      const b = await backup(slug);
      expect(b.file).toMatch(new RegExp(`/${slug}/${slug}-\\d{8}T\\d{6}Z\\.(pgdump|sql\\.gz|sqlite\\.gz)$`));
      expect(statSync(b.file).mode & 0o777).toBe(0o600);
      expect(statSync(join(b.file, '..')).mode & 0o777).toBe(0o700);
      expect(b).toMatchObject({
        status: 'ok',
        bytes: statSync(b.file).size,
        sha256: sha256(b.file),
        migration: '20240101000100_create_audit_log.js',
      });
      expect(readdirSync(join(b.file, '..')).filter((f) => f.endsWith('.partial'))).toEqual([]);
      const listed = await ws.json(['backups', slug]);
      expect(listed.data.map((x: BackupJson) => x.id)).toEqual([b.id]);
    });

    it('restores the data exactly as it was backed up, and only with --force over existing tables', async () => {
      const slug = await tenantWithRows();
      const before = await userEmails(slug);
      await backup(slug);
      const db = ws.probe.admin(ws.names(slug).database);
      try {
        await db('users').where('email', 'like', 'u1%').delete();
        await db('users').insert({ email: 'late@t.test', name: 'Late' });
      } finally {
        await db.destroy();
      }
      const refused = await ws.run(['restore', slug]);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/use --force/);
      const restored = await ws.json(['restore', slug, '--force']);
      expect(restored.result.code, restored.result.stderr).toBe(0);
      expect(restored.data.tenant.status).toBe('active');
      expect(await userEmails(slug)).toEqual(before);
      if (engine !== 'sqlite') {
        // The tenant's own user works again, on the restored data.
        const password = (await ws.json(['show', slug, '--show-password'])).data.password;
        const { database, user } = ws.names(slug);
        expect(await canQuery(ws.probe.connectAs(database, user, password), 'select count(*) from users')).toBe(true);
      }
    });

    it('clones a tenant from its backup with --as: a new database and user with the same rows', async () => {
      const slug = await tenantWithRows();
      await backup(slug);
      const clone = ws.slug('clone-');
      const { result, data } = await ws.json(['restore', slug, '--as', clone]);
      expect(result.code, result.stderr).toBe(0);
      expect(data).toMatchObject({ cloned: true, tenant: { slug: clone, status: 'active' } });
      expect(await userEmails(clone)).toEqual(await userEmails(slug));
      if (engine !== 'sqlite') {
        const password = (await ws.json(['show', clone, '--show-password'])).data.password;
        const { database, user } = ws.names(clone);
        const db = ws.probe.connectAs(database, user, password);
        try {
          expect(Number((await db('users').count({ n: '*' }))[0]!.n)).toBe(51);
          await db('users').insert({ email: 'clone-only@t.test', name: 'Clone' }); // it owns its data
        } finally {
          await db.destroy();
        }
        expect(await userEmails(slug)).not.toContain('clone-only@t.test');
      }
    });

    it('detects and refuses a changed or truncated backup', async () => {
      const slug = await tenantWithRows();
      const b = await backup(slug);
      const original = readFileSync(b.file);
      const flipped = Buffer.from(original);
      flipped[flipped.length - 10] = flipped[flipped.length - 10]! ^ 0xff;
      writeFileSync(b.file, flipped);
      const verify = await ws.json(['backup', 'verify', slug]);
      expect(verify.result.code).toBe(1);
      expect(verify.data.backups[0].problem).toMatch(/checksum mismatch/);
      const refused = await ws.run(['restore', slug, '--force']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/checksum mismatch.*refusing to restore/);

      // A truncated copy matches no recorded checksum: refused unless trusted, and even then it
      // must read back whole.
      writeFileSync(b.file, original);
      const copy = join(ws.dir, `offsite.${basename(b.file).split('.').slice(1).join('.')}`);
      copyFileSync(b.file, copy);
      truncateSync(copy, Math.floor(original.length / 2));
      const unknown = await ws.run(['restore', slug, '--from', copy, '--force']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/not one of this registry's backups.*--from-untrusted-file/);
      const truncated = await ws.run(['restore', slug, '--from', copy, '--force', '--from-untrusted-file']);
      expect(truncated.code).toBe(1);
      expect(truncated.stderr).toMatch(/refusing to restore/);
      expect(await userEmails(slug)).toHaveLength(51); // untouched
    });

    it('verify --restore-test restores into a scratch database and compares row counts', async () => {
      const slug = await tenantWithRows();
      await backup(slug);
      const { result, data } = await ws.json(['backup', 'verify', slug, '--restore-test']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.backups[0]).toMatchObject({ ok: true, detail: expect.stringMatching(/8 tables, \d+ rows restored/) });
    });

    it('keeps exactly what the retention rules say, never the newest good backup', async () => {
      const slug = await tenantWithRows();
      for (let i = 0; i < 4; i++) await backup(slug);
      const kept = await ws.json(['backup', slug, '--keep', '2']);
      expect(kept.result.code).toBe(0);
      expect(kept.data.pruned.removed).toHaveLength(3); // 5 backups (4 + this one) → 2
      const remaining = (await ws.json(['backups', slug])).data as BackupJson[];
      expect(remaining).toHaveLength(2);
      for (const r of remaining) expect(existsSync(r.file)).toBe(true);
      for (const gone of kept.data.pruned.removed) expect(existsSync(gone.file)).toBe(false);

      // Age them: --keep-days removes the old ones but always leaves the newest good backup.
      const registry = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
      try {
        await registry('tenantctl_backups').where({ slug }).update({ started_at: '2020-01-01T00:00:00.000Z' });
      } finally {
        await registry.destroy();
      }
      const aged = await ws.json(['backup', slug, '--keep-days', '7']);
      expect(aged.data.pruned.removed).toHaveLength(2);
      expect(((await ws.json(['backups', slug])).data as BackupJson[]).map((b) => b.id)).toEqual([
        aged.data.tenants.tenants[0].backup.id,
      ]);
    });

    it('backs up the registry itself with --registry', async () => {
      const { result, data } = await ws.json(['backup', '--registry']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.registry.status).toBe('ok');
      expect(statSync(data.registry.file).size).toBeGreaterThan(0);
    });

    if (engine !== 'sqlite') {
      it('leaves no good-looking file when the dump tool dies half-way, and records the failure', async () => {
        const slug = await tenantWithRows();
        const env = { [DUMP_ENV[engine]]: join(TOOLS, 'truncating-dump'), REAL_DUMP_TOOL: REAL_DUMP[engine] };
        const failed = await ws.json(['backup', slug], env);
        expect(failed.result.code).toBe(1);
        expect(failed.data.tenants.tenants[0]).toMatchObject({
          outcome: 'failed',
          error: expect.stringMatching(/exited with code 3/),
        });
        if (engine === 'mysql') {
          // A tool that lies (exit 0 with half a dump) is caught by the completeness check.
          const lying = await ws.json(['backup', slug], { ...env, FAKE_DUMP_EXIT: '0' });
          expect(lying.result.code).toBe(1);
          expect(lying.data.tenants.tenants[0].error).toMatch(/incomplete/);
        }
        expect(
          existsSync(join(ws.dir, '.tenantctl', 'backups', slug))
            ? readdirSync(join(ws.dir, '.tenantctl', 'backups', slug))
            : [],
        ).toEqual([]);
        const records = (await ws.json(['backups', slug])).data as BackupJson[];
        expect(records.every((r) => r.status === 'failed')).toBe(true);
        expect((await ws.run(['restore', slug, '--force'])).code).toBe(3); // no good backup to restore
      });

      it('names what to install when the dump tool is missing, or older than the server', async () => {
        const slug = await tenantWithRows();
        const missing = await ws.json(['backup', slug], { [DUMP_ENV[engine]]: '/nonexistent/dump-tool' });
        expect(missing.result.code).toBe(1);
        expect(missing.data.tenants.tenants[0].error).toMatch(/not found: install (postgresql-client|mariadb-client)/);
        if (engine === 'postgres') {
          const old = await ws.json(['backup', slug], { TENANTCTL_PG_DUMP: join(TOOLS, 'old-pg-dump') });
          expect(old.result.code).toBe(1);
          expect(old.data.tenants.tenants[0].error).toMatch(
            /version 9, older than the PostgreSQL \d+ server: install postgresql-client-\d+/,
          );
          const doctor = await ws.json(['doctor'], { TENANTCTL_PG_DUMP: join(TOOLS, 'old-pg-dump') });
          expect(doctor.data.findings).toContainEqual(
            expect.objectContaining({
              kind: 'dump_tool',
              fix: expect.stringMatching(/^install postgresql-client-\d+/),
            }),
          );
        }
        expect(((await ws.json(['backups', slug])).data as BackupJson[]).every((b) => b.status === 'failed')).toBe(
          true,
        );
      });

      it('never puts a password on a child process command line', async () => {
        // A registry of its own: the same server under a second name (with this admin) would be refused.
        const own = new Workspace(engine);
        const password = `Pw-${randomBytes(12).toString('hex')}`;
        const admin = `tenantctl_admin_${randomBytes(3).toString('hex')}`;
        const root = knexFactory({
          client: engine === 'postgres' ? 'pg' : 'mysql2',
          connection: SERVER_URLS[engine],
          pool: { min: 0, max: 1 },
        });
        const url = new URL(SERVER_URLS[engine]);
        url.username = admin;
        url.password = password;
        try {
          if (engine === 'postgres') await root.raw(`create role ${admin} login superuser password '${password}'`);
          else {
            await root.raw(`create user '${admin}'@'%' identified by '${password}'`);
            await root.raw(`grant all privileges on *.* to '${admin}'@'%' with grant option`);
          }
          const env = {
            TENANTCTL_SERVER_URL: url.toString(),
            TENANTCTL_SERVER_NAME: `${engine}-with-password`,
            [DUMP_ENV[engine]]: join(TOOLS, 'slow-dump'),
            REAL_DUMP_TOOL: REAL_DUMP[engine],
          };
          const slug = own.slug();
          expect((await own.run(['create', slug], env)).code).toBe(0);
          const running = own.start(['backup', slug], env);
          const seen: string[] = [];
          let finished = false;
          void running.done.then(() => (finished = true));
          while (!finished) {
            for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
              try {
                const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
                if (/dump/.test(cmdline)) seen.push(cmdline);
              } catch {
                // the process ended
              }
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          const result = await running.done;
          expect(result.code, result.stderr).toBe(0);
          // We did watch the tool run: the wrapper sleeps a second with exactly the arguments it then
          // hands the real tool (which may finish between two looks at /proc on a small tenant).
          expect(seen.some((c) => /slow-dump\s+-/.test(c))).toBe(true);
          for (const cmdline of seen) expect(cmdline).not.toContain(password);
          expect(result.stdout + result.stderr).not.toContain(password);
        } finally {
          // The create's schema template was built by this admin's server entry: dropped while it can log in.
          await own
            .run(['template', 'drop'], {
              TENANTCTL_SERVER_URL: url.toString(),
              TENANTCTL_SERVER_NAME: `${engine}-with-password`,
            })
            .catch(() => undefined);
          if (engine === 'postgres') await root.raw(`drop role if exists ${admin}`).catch(() => undefined);
          else await root.raw(`drop user if exists '${admin}'@'%'`);
          await root.destroy();
          await own.cleanup();
        }
      });
    }
  });
}
