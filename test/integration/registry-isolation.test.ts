import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lockKey64 } from '../../src/engines/lock-helpers.js';
import { SERVER_URLS } from '../helpers/engines.js';
import { registryDatabase } from '../helpers/registry-database.js';
import { canQuery } from '../helpers/server-probe.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const KEY = randomBytes(32).toString('hex');

/** Every lock name tenantctl has ever used, as a tenant who read tenantctl's source would know them. */
const lockNames = (slugs: string[]) => [
  'tenantctl:migrations',
  'tenantctl:placement',
  'tenantctl:rotate-key',
  'tenantctl:registry-migrations',
  'tenantctl:secret-writes',
  ...slugs.map((slug) => `tenantctl:tenant:${slug}`),
];

const rowsOf = (result: { rows?: unknown[] } | unknown[][]) =>
  (Array.isArray(result) ? result[0] : result.rows) as Array<Record<string, unknown>>;

for (const engine of ['postgres', 'mysql'] as const) {
  describe.skipIf(!reachable.includes(engine))(
    `a tenant cannot reach the registry sharing its ${engine} server`,
    () => {
      const registry = registryDatabase(engine);
      let ws: Workspace;
      beforeAll(async () => {
        await registry.create();
        ws = new Workspace(engine, { env: { TENANTCTL_REGISTRY_URL: registry.url, TENANTCTL_SECRET_KEY: KEY } });
      });
      afterAll(async () => {
        await ws.cleanup();
        await registry.drop();
      });

      /** A tenant whose application is hostile: its own user, its password, nothing else. */
      async function hostileTenant(): Promise<{ slug: string; as: (database: string) => Knex }> {
        const slug = ws.slug();
        const created = await ws.run(['create', slug, '--no-seed']);
        expect(created.code, created.stderr).toBe(0);
        const { password } = (await ws.json(['show', slug, '--show-password'])).data as { password: string };
        const user = ws.names(slug).user!;
        return { slug, as: (database) => ws.probe.connectAs(database, user, password) };
      }

      it("refuses the tenant's user a connection to the registry database", { timeout: 60_000 }, async () => {
        const attacker = await hostileTenant();
        expect(await canQuery(attacker.as(ws.names(attacker.slug).database))).toBe(true); // its own: yes
        expect(await canQuery(attacker.as(registry.name))).toBe(false);
        if (engine === 'postgres') {
          const open = await registry.admin.raw("select has_database_privilege('public', ?, 'connect') as open", [
            registry.name,
          ]);
          expect(rowsOf(open)[0]!.open).toBe(false);
        } else {
          // Its grants name its own database and nothing else.
          const user = ws.names(attacker.slug).user!;
          const grants = rowsOf(await registry.admin.raw('show grants for ?@?', [user, '%'])).map(
            (row) => Object.values(row)[0] as string,
          );
          expect(grants).toHaveLength(2);
          expect(grants[0]).toMatch(/^GRANT USAGE ON \*\.\* TO/);
          expect(grants[1]).toContain(`ON \`${ws.names(attacker.slug).database.replaceAll('_', '\\_')}\`.*`);
        }
      });

      it(
        "cannot take or block tenantctl's locks: migrate-all, suspend and create succeed while the tenant holds every name",
        { timeout: 120_000 },
        async () => {
          const attacker = await hostileTenant();
          const victim = ws.slug();
          expect((await ws.run(['create', victim, '--no-seed'])).code).toBe(0);
          const next = ws.slug();
          const names = lockNames([attacker.slug, victim, next]);
          // Every database the tenant's user can reach, each holding every lock it can take there.
          const sessions: Knex[] = [];
          try {
            const candidates =
              engine === 'postgres' ? [registry.name, ws.names(attacker.slug).database, 'postgres'] : [undefined];
            let held = 0;
            for (const database of candidates) {
              const session = attacker.as(database ?? ws.names(attacker.slug).database);
              // One connection, so that session locks stay with it.
              const pooled = session.client as { pool: { max: number } };
              expect(pooled.pool.max).toBe(1);
              sessions.push(session);
              if (
                !(await session.raw('select 1').then(
                  () => true,
                  () => false,
                ))
              )
                continue;
              for (const name of names) {
                const key = lockKey64(name);
                const got =
                  engine === 'postgres'
                    ? rowsOf(await session.raw('select pg_try_advisory_lock(?::bigint) as ok', [key]))[0]!.ok === true
                    : Number(rowsOf(await session.raw('select get_lock(?, 0) as ok', [`tenantctl:${key}`]))[0]!.ok) ===
                      1;
                if (got) held++;
              }
            }
            expect(held).toBeGreaterThan(0); // the tenant did hold locks of those names, where it could

            const migrated = await ws.json(['migrate-all']);
            expect(migrated.result.code, migrated.result.stderr).toBe(0);
            const suspended = await ws.json(['suspend', victim, '--reason', 'isolation test']);
            expect(suspended.result.code, suspended.result.stderr).toBe(0);
            const reactivated = await ws.json(['reactivate', victim]);
            expect(reactivated.result.code, reactivated.result.stderr).toBe(0);
            const created = await ws.json(['create', next, '--no-seed']);
            expect(created.result.code, created.result.stderr).toBe(0);
          } finally {
            for (const session of sessions) await session.destroy();
          }
        },
      );

      if (engine === 'mysql') {
        it("cannot read the registry's secret that names the locks", { timeout: 60_000 }, async () => {
          const attacker = await hostileTenant();
          const session = attacker.as(ws.names(attacker.slug).database);
          try {
            await expect(
              session.raw(`select id from \`${registry.name}\`.tenantctl_registry_id`),
            ).rejects.toMatchObject({
              code: 'ER_TABLEACCESS_DENIED_ERROR',
            });
          } finally {
            await session.destroy();
          }
        });
      }
    },
  );
}

describe.skipIf(!reachable.includes('postgres'))('a PostgreSQL registry whose user may not close it', () => {
  const registry = registryDatabase('postgres');
  const role = `tenantctl_reg_${randomBytes(3).toString('hex')}`;
  let ws: Workspace;
  beforeAll(async () => {
    await registry.create();
    // A registry user that is neither the database's owner nor a superuser: it may use the
    // database (CONNECT through PUBLIC, as a new database gives) and create tables in it.
    await registry.admin.raw(`create role ${role} login`);
    const inRegistry = knexFactory({ client: 'pg', connection: registry.url, pool: { min: 0, max: 1 } });
    try {
      await inRegistry.raw(`grant create, usage on schema public to ${role}`);
    } finally {
      await inRegistry.destroy();
    }
    const url = new URL(registry.url);
    url.username = role;
    ws = new Workspace('postgres', { env: { TENANTCTL_REGISTRY_URL: url.toString(), TENANTCTL_SECRET_KEY: KEY } });
  });
  afterAll(async () => {
    await ws.cleanup();
    await registry.drop();
    const admin = knexFactory({ client: 'pg', connection: SERVER_URLS.postgres, pool: { min: 0, max: 1 } });
    try {
      await admin.raw(`drop role if exists ${role}`);
    } finally {
      await admin.destroy();
    }
  });

  it(
    'works, and doctor reports the open registry with the statements its owner runs',
    { timeout: 60_000 },
    async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
      const report = await ws.json(['doctor']);
      expect(report.result.code).toBe(1);
      const exposed = report.data.findings.filter((f: { kind: string }) => f.kind === 'registry_exposed');
      expect(exposed).toHaveLength(1);
      expect(exposed[0]).toMatchObject({ severity: 'problem', target: { type: 'registry' }, autoFix: false });
      expect(exposed[0].fix).toBe(
        `GRANT CONNECT ON DATABASE "${registry.name}" TO "${role}"; REVOKE CONNECT ON DATABASE "${registry.name}" FROM PUBLIC`,
      );

      // Its owner runs them: the registry is closed, and its own user still gets in.
      for (const statement of exposed[0].fix.split('; ')) await registry.admin.raw(statement);
      const again = await ws.json(['doctor']);
      expect(again.data.findings.filter((f: { kind: string }) => f.kind === 'registry_exposed')).toEqual([]);
      expect((await ws.run(['list'])).code).toBe(0);
    },
  );
});
