import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { fillDisk, withSmallDisk } from '../helpers/small-disk.js';
import { waitFor } from '../helpers/wait-for.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';
import { readMark, writeMark } from '../helpers/ownership-marks.js';

const reachable = inject('reachableEngines');

interface Finding {
  kind: string;
  severity: string;
  tenant: string | null;
  message: string;
  fixed?: boolean;
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`stats and doctor on ${engine}`, () => {
    // A naming template of its own, so tenants of other tests on the same server are not this
    // registry's orphans.
    const prefix = `d${randomBytes(3).toString('hex')}`;
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine, {
        env: { TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}_{slug}`, TENANTCTL_USER_NAME_TEMPLATE: `${prefix}_{slug}` },
      });
    });
    afterAll(async () => {
      for (const slug of created)
        await ws.probe
          .drop(`${prefix}_${slug}`, engine === 'sqlite' ? null : `${prefix}_${slug}`)
          .catch(() => undefined);
      await ws.probe.drop(`${prefix}_orphan`, engine === 'sqlite' ? null : `${prefix}_orphan`).catch(() => undefined);
      await ws.cleanup();
    });
    const created: string[] = [];
    const names = (slug: string) => ({
      database: `${prefix}_${slug}`,
      user: engine === 'sqlite' ? null : `${prefix}_${slug}`,
    });
    const create = async (...extra: string[]) => {
      const slug = ws.slug();
      created.push(slug);
      const result = await ws.run(['create', slug, ...extra]);
      expect(result.code, result.stderr).toBe(0);
      return slug;
    };
    const findings = async (...args: string[]) => {
      const { result, data } = await ws.json(['doctor', ...args]);
      return { code: result.code, findings: data.findings as Finding[], stderr: result.stderr };
    };

    it('reports what the server reports: size, tables, exact rows, migrations, last backup', async () => {
      const big = await create();
      const small = await create();
      const db = ws.probe.admin(names(big).database);
      try {
        await db('users').insert(Array.from({ length: 300 }, (_, i) => ({ email: `s${i}@t.test`, name: `S ${i}` })));
      } finally {
        await db.destroy();
      }
      expect((await ws.run(['backup', big])).code).toBe(0);
      const { result, data } = await ws.json(['stats', '--exact', '--sort', 'rows']);
      expect(result.code, result.stderr).toBe(0);
      const bySlug = Object.fromEntries(data.tenants.map((t: { slug: string }) => [t.slug, t]));
      const counted = async (slug: string) => {
        const k = ws.probe.admin(names(slug).database);
        try {
          let tables: string[] =
            engine === 'postgres'
              ? (await k.raw("select tablename from pg_tables where schemaname = 'public'")).rows.map(
                  (r: { tablename: string }) => r.tablename,
                )
              : engine === 'mysql'
                ? (
                    await k.raw(
                      "select table_name as t from information_schema.tables where table_schema = database() and table_type = 'BASE TABLE'",
                    )
                  )[0].map((r: { t: string }) => r.t)
                : (await k.raw("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")).map(
                    (r: { name: string }) => r.name,
                  );
          // The ownership mark's table (README "Ownership marks") is tenantctl's, not the tenant's.
          tables = tables.filter((t: string) => t !== 'tenantctl_owner');
          let rows = 0;
          for (const t of tables) rows += Number(Object.values((await k(t).count({ n: '*' }))[0]!)[0]);
          return { tables: tables.length, rows };
        } finally {
          await k.destroy();
        }
      };
      for (const slug of [big, small]) {
        const truth = await counted(slug);
        expect(bySlug[slug]).toMatchObject({
          tables: truth.tables,
          rows: truth.rows,
          rowsExact: true,
          migration: '20240101000100_create_audit_log.js',
          pendingMigrations: 0,
        });
      }
      expect(data.tenants.map((t: { slug: string }) => t.slug).slice(0, 2)).toEqual([big, small]); // sorted by rows
      expect(bySlug[big].lastBackup).toMatchObject({ ageSeconds: expect.any(Number) });
      expect(bySlug[small].lastBackup).toBeNull();

      // Sizes as the server itself reports them.
      if (engine === 'postgres') {
        const admin = knexFactory({ client: 'pg', connection: SERVER_URLS.postgres, pool: { min: 0, max: 1 } });
        try {
          const size = Number((await admin.raw('select pg_database_size(?) as s', [names(big).database])).rows[0].s);
          expect(Math.abs(bySlug[big].sizeBytes - size) / size).toBeLessThan(0.05);
        } finally {
          await admin.destroy();
        }
      } else if (engine === 'sqlite') {
        expect(bySlug[big].sizeBytes).toBeGreaterThanOrEqual(
          statSync(join(ws.dir, '.tenantctl', 'tenants', `${names(big).database}.sqlite`)).size,
        );
      } else {
        expect(bySlug[big].sizeBytes).toBeGreaterThan(0);
      }
      expect(data.totals.tenants).toBe(data.tenants.length);
      expect(data.largest.length).toBeGreaterThan(0);
    });

    it('by default gathers tables and rows only where no connection per database is needed; --tables adds them', async () => {
      const slug = await create();
      const plain = await ws.json(['stats', slug]);
      expect(plain.result.code, plain.result.stderr).toBe(0);
      const [cheap] = plain.data.tenants;
      expect(cheap).toMatchObject({
        slug,
        migration: '20240101000100_create_audit_log.js',
        pendingMigrations: 0,
        sizeBytes: expect.any(Number),
      });
      // PostgreSQL needs a connection per database for them; MySQL and SQLite do not.
      if (engine === 'postgres') expect(cheap).toMatchObject({ tables: null, rows: null });
      else expect(cheap.tables).toBeGreaterThan(0);
      const full = await ws.json(['stats', slug, '--tables']);
      expect(full.result.code, full.result.stderr).toBe(0);
      expect(full.data.tenants[0]).toMatchObject({
        slug,
        tables: expect.any(Number),
        rows: expect.any(Number),
        migration: cheap.migration,
      });
      expect(full.data.tenants[0].tables).toBeGreaterThan(0);
    });

    it('writes Prometheus text a textfile collector can read, atomically', async () => {
      const slug = await create();
      const file = join(ws.dir, 'tenantctl.prom');
      const result = await ws.run(['stats', '--format', 'prometheus', '--output', file]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe('');
      const text = readFileSync(file, 'utf8');
      expect(text).toMatch(
        new RegExp(
          `^tenantctl_tenant_database_size_bytes\\{tenant="${slug}",server="[^"]+",status="active"\\} \\d+$`,
          'm',
        ),
      );
      expect(text).toMatch(/^# TYPE tenantctl_tenant_pending_migrations gauge$/m);
      expect(text).toMatch(/^tenantctl_tenants\{status="active"\} \d+$/m);
      for (const line of text.trim().split('\n'))
        expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?\d+(\.\d+)?)$/);
    });

    it("leaves a database made by hand alone; one with its mark and no row is unregistered; a deleted tenant's is an orphan, dropped only with --drop-orphans", async () => {
      await ws.probe.createDatabase(`${prefix}_orphan`);
      const foreign = await findings('--fix', '--drop-orphans', '--yes');
      expect(foreign.findings).toContainEqual(
        expect.objectContaining({
          kind: 'foreign_database',
          severity: 'info',
          target: { type: 'database', server: expect.any(String), name: `${prefix}_orphan` },
          message: `database "${prefix}_orphan" matches the naming template, belongs to another registry or to none; left alone`,
        }),
      );
      expect(foreign.findings.some((f) => f.kind === 'orphan_database')).toBe(false);
      expect(await ws.probe.databaseExists(`${prefix}_orphan`)).toBe(true);
      // This registry's mark, as on a database whose tenant's row was lost (a registry restored
      // from an older backup): unregistered, to adopt back; never dropped as an orphan.
      const live = await create();
      const mark = await readMark(engine, ws.probe, names(live).database);
      await writeMark(engine, ws.probe, `${prefix}_orphan`, mark);
      const lost = await findings('--fix', '--drop-orphans', '--yes');
      expect(lost.code).toBe(1);
      expect(lost.findings).toContainEqual(
        expect.objectContaining({
          kind: 'unregistered_database',
          severity: 'problem',
          target: { type: 'database', server: expect.any(String), name: `${prefix}_orphan` },
          fix: expect.stringMatching(new RegExp(`^tenantctl adopt orphan --server \\S+ --database ${prefix}_orphan`)),
        }),
      );
      expect(await ws.probe.databaseExists(`${prefix}_orphan`)).toBe(true);
      await writeMark(engine, ws.probe, `${prefix}_orphan`, null);
      // Its mark on the database of a tenant it deleted: an orphan, dropped only with --drop-orphans.
      const gone = await create();
      expect((await ws.run(['delete', gone, '--yes', '--no-backup'])).code).toBe(0);
      await ws.probe.createDatabase(names(gone).database);
      await writeMark(engine, ws.probe, names(gone).database, mark);
      const found = await findings();
      expect(found.code).toBe(1);
      expect(found.findings).toContainEqual(
        expect.objectContaining({
          kind: 'orphan_database',
          severity: 'problem',
          target: { type: 'database', server: expect.any(String), name: names(gone).database },
        }),
      );
      await findings('--fix');
      expect(await ws.probe.databaseExists(names(gone).database)).toBe(true);
      expect((await ws.run(['doctor', '--fix', '--drop-orphans'])).code).toBe(2); // no terminal, no --yes
      const dropped = await findings('--fix', '--drop-orphans', '--yes');
      expect(dropped.findings.find((f) => f.kind === 'orphan_database')?.fixed).toBe(true);
      expect(await ws.probe.databaseExists(names(gone).database)).toBe(false);
    }, 180_000);

    it('finds a suspended tenant whose access was restored by hand, and --fix locks it again', async () => {
      const slug = await create();
      expect((await ws.run(['suspend', slug, '--reason', 'test'])).code).toBe(0);
      const { database, user } = names(slug);
      if (engine === 'sqlite') chmodSync(join(ws.dir, '.tenantctl', 'tenants', `${database}.sqlite`), 0o600);
      else {
        const admin = knexFactory({
          client: engine === 'postgres' ? 'pg' : 'mysql2',
          connection: SERVER_URLS[engine],
          pool: { min: 0, max: 1 },
        });
        try {
          await admin.raw(
            engine === 'postgres' ? `alter role "${user}" login` : `alter user '${user}'@'%' account unlock`,
          );
        } finally {
          await admin.destroy();
        }
      }
      const found = await findings();
      expect(found.findings).toContainEqual(expect.objectContaining({ kind: 'suspended_can_login', tenant: slug }));
      const fixed = await findings('--fix');
      expect(fixed.findings.find((f) => f.kind === 'suspended_can_login' && f.tenant === slug)?.fixed).toBe(true);
      expect((await findings()).findings.filter((f) => f.tenant === slug && f.kind === 'suspended_can_login')).toEqual(
        [],
      );
    });

    it('finds a tenant stuck in provisioning after a killed create, and --fix finishes it', async () => {
      const slug = ws.slug();
      created.push(slug);
      // Replayed: from a template, the migrations run in the template's build, not at this step.
      const slow = ws.start(['create', slug, '--no-seed', '--replay'], {
        TENANTCTL_MIGRATIONS_DIR: join(FIXTURES, 'slow-migrations'),
      });
      await waitFor(async () => (await ws.json(['show', slug])).data?.step === 'migrations');
      slow.child.kill('SIGKILL');
      await slow.done;
      const found = await findings();
      expect(found.findings).toContainEqual(
        expect.objectContaining({
          kind: 'interrupted',
          tenant: slug,
          message: expect.stringMatching(/create was interrupted at step "migrations"/),
        }),
      );
      const fixed = await findings('--fix');
      expect(fixed.findings.find((f) => f.kind === 'interrupted' && f.tenant === slug)?.fixed).toBe(true);
      expect((await ws.json(['show', slug])).data.status).toBe('active');
    });

    it('finds a tenant whose database vanished, and pending migrations', async () => {
      const gone = await create();
      await ws.probe.drop(names(gone).database, null);
      const found = await findings();
      expect(found.findings).toContainEqual(expect.objectContaining({ kind: 'missing_database', tenant: gone }));
      expect((await ws.run(['delete', gone, '--yes', '--no-backup'])).code).toBe(0);
    });

    it('says all is well, exit 0, when every tenant is backed up and up to date; not once the backup disk is full', async () => {
      const fresh = new Workspace(engine, {
        env: {
          TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}w_{slug}`,
          TENANTCTL_USER_NAME_TEMPLATE: `${prefix}w_{slug}`,
        },
      });
      const slug = fresh.slug();
      try {
        expect((await fresh.run(['create', slug])).code).toBe(0);
        // A new tenant's first backup is not due yet: a notice, exit 0 (1 with --strict).
        const before = await fresh.json(['doctor']);
        expect(before.result.code, before.result.stdout).toBe(0);
        expect(before.data.findings.map((f: Finding) => [f.kind, f.severity])).toEqual([['no_backup', 'notice']]);
        expect((await fresh.run(['doctor', '--strict'])).code).toBe(1);
        // Older than the maximum age and never backed up: a problem.
        const overdue = await fresh.json(['doctor', '--backup-max-age', '0']);
        expect(overdue.result.code).toBe(1);
        expect(overdue.data.findings).toEqual([
          expect.objectContaining({ kind: 'no_backup', severity: 'problem', target: { type: 'tenant', slug } }),
        ]);
        expect((await fresh.run(['backup', slug])).code).toBe(0);
        const after = await fresh.json(['doctor']);
        expect(after.result.code, JSON.stringify(after.data.findings)).toBe(0);
        expect(after.data).toMatchObject({ ok: true, findings: [] });

        // The backup directory on a full disk: the next round of backups would not fit.
        await withSmallDisk(64, async (disk) => {
          fillDisk(disk);
          const full = await fresh.json(['doctor'], { TENANTCTL_BACKUP_DIR: join(disk, 'backups') });
          expect(full.result.code).toBe(1);
          expect(full.data.findings).toEqual([
            expect.objectContaining({
              kind: 'backup_space',
              severity: 'problem',
              target: { type: 'directory', path: join(disk, 'backups') },
              message: expect.stringMatching(/^only 0 B free in .*backing up every tenant again needs about/),
              fix: expect.stringContaining('--keep-days'),
            }),
          ]);
        });
      } finally {
        await fresh.probe.drop(`${prefix}w_${slug}`, engine === 'sqlite' ? null : `${prefix}w_${slug}`);
        await fresh.cleanup();
      }
    });
  });
}
