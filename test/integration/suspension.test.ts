import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { canRunOwnMariadb, startOwnMariadb, type OwnMariadb } from '../helpers/own-mariadb.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!reachable.includes('mysql') || !canRunOwnMariadb())(
  "suspending a MariaDB tenant stops its scheduled events (a server of the test's own, event scheduler on)",
  () => {
    let own: OwnMariadb;
    let ws: Workspace;
    let root: Knex;
    beforeAll(async () => {
      own = await startOwnMariadb({ eventScheduler: true });
      ws = new Workspace('mysql', { env: { TENANTCTL_SERVER_URL: own.url } });
      root = own.root();
    }, 120_000);
    afterAll(async () => {
      await root?.destroy();
      await ws?.cleanup();
      await own?.stop();
    });

    const events = async (database: string) => {
      const [rows] = await root.raw(
        'select event_name as name, status, definer from information_schema.events where event_schema = ? order by 1',
        [database],
      );
      return Object.fromEntries(
        (rows as Array<{ name: string; status: string; definer: string }>).map((r) => [r.name, r]),
      );
    };
    const ticks = async (database: string) => {
      const [rows] = await root.raw(`select count(*) as n from \`${database}\`.ticks`);
      return Number(rows[0].n);
    };

    /** A tenant whose own code runs two events writing every second, and has one it disabled itself. */
    async function tenantWithEvents(): Promise<{ slug: string; database: string; user: string }> {
      const [{ v }] = (await root.raw('select @@event_scheduler as v'))[0];
      expect(v).toBe('ON');
      const slug = ws.slug();
      expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
      const { database, user } = ws.names(slug) as { database: string; user: string };
      const { password } = (await ws.json(['show', slug, '--show-password'])).data as { password: string };
      const tenant = knexFactory({
        client: 'mysql2',
        connection: { host: '127.0.0.1', port: own.port, user, password, database },
        pool: { min: 0, max: 1 },
      });
      try {
        await tenant.raw('create table ticks (id int auto_increment primary key, event varchar(20))');
        await tenant.raw(
          "create event writer on schedule every 1 second do insert into ticks (event) values ('writer')",
        );
        await tenant.raw(
          "create event second on schedule every 1 second do insert into ticks (event) values ('second')",
        );
        await tenant.raw(
          "create event paused on schedule every 1 second disable do insert into ticks (event) values ('paused')",
        );
      } finally {
        await tenant.destroy();
      }
      await waitFor(async () => (await ticks(database)) >= 4, 30_000); // the scheduler runs them
      return { slug, database, user };
    }

    /** Suspended: every event disabled, each still the tenant's (the admin did not become its definer), no writes. */
    async function expectStopped(database: string, user: string): Promise<void> {
      const off = await events(database);
      expect(Object.values(off).map((e) => e.status)).toEqual(['DISABLED', 'DISABLED', 'DISABLED']);
      for (const event of Object.values(off)) expect(event.definer).toBe(`${user}@%`);
      await sleep(1500); // an execution under way when it was disabled may still land
      const before = await ticks(database);
      await sleep(3000);
      expect(await ticks(database)).toBe(before);
    }

    /** Reactivated: the events suspend disabled run again, as the tenant; the one it had disabled stays so. */
    async function expectResumed(database: string, user: string): Promise<void> {
      const on = await events(database);
      expect({ paused: on.paused!.status, second: on.second!.status, writer: on.writer!.status }).toEqual({
        paused: 'DISABLED',
        second: 'ENABLED',
        writer: 'ENABLED',
      });
      for (const event of Object.values(on)) expect(event.definer).toBe(`${user}@%`);
      const resumed = await ticks(database);
      await waitFor(async () => (await ticks(database)) > resumed, 30_000);
    }

    it(
      "stops the tenant's events writing, and reactivate starts exactly those again",
      { timeout: 120_000 },
      async () => {
        const { slug, database, user } = await tenantWithEvents();
        const suspended = await ws.json(['suspend', slug, '--reason', 'unpaid']);
        expect(suspended.result.code, suspended.result.stderr).toBe(0);
        await expectStopped(database, user);
        const reactivated = await ws.json(['reactivate', slug]);
        expect(reactivated.result.code, reactivated.result.stderr).toBe(0);
        await expectResumed(database, user);
      },
    );

    it(
      'a suspend killed between two events is finished by running it again, and forgets none',
      { timeout: 180_000 },
      async () => {
        const { slug, database, user } = await tenantWithEvents();
        // Killed after the first event was disabled: the account is locked, one event still runs.
        const killed = ws.start(['suspend', slug, '--reason', 'unpaid'], {
          TENANTCTL_TEST_PAUSE_AT: 'suspend-job-disabled',
        });
        let stderr = '';
        killed.child.stderr!.on('data', (chunk) => (stderr += chunk));
        await waitFor(async () => stderr.includes('TENANTCTL_TEST_PAUSED'), 60_000);
        killed.child.kill('SIGKILL');
        await killed.done;
        expect(Object.values(await events(database)).map((e) => e.status)).toEqual(['DISABLED', 'DISABLED', 'ENABLED']);

        const finished = await ws.json(['suspend', slug, '--reason', 'unpaid']);
        expect(finished.result.code, finished.result.stderr).toBe(0);
        await expectStopped(database, user);
        const reactivated = await ws.json(['reactivate', slug]);
        expect(reactivated.result.code, reactivated.result.stderr).toBe(0);
        await expectResumed(database, user); // the event disabled before the kill too
      },
    );

    it(
      'doctor finds a suspended tenant whose events run again, and --fix disables them',
      { timeout: 120_000 },
      async () => {
        const slug = ws.slug();
        expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
        const { database } = ws.names(slug);
        await root.raw(`create table \`${database}\`.ticks (id int auto_increment primary key)`);
        await root.raw(`create event \`${database}\`.writer on schedule every 1 hour do insert into ticks values ()`);
        expect((await ws.run(['suspend', slug])).code).toBe(0);
        expect((await events(database)).writer!.status).toBe('DISABLED');
        await root.raw(`alter event \`${database}\`.writer enable`); // someone turned it back on

        const found = (await ws.json(['doctor'])).data.findings.filter(
          (f: { kind: string; tenant: string }) => f.kind === 'suspended_can_login' && f.tenant === slug,
        );
        expect(found).toMatchObject([
          { message: expect.stringMatching(/scheduled jobs still run: writer/), autoFix: true },
        ]);
        await ws.json(['doctor', '--fix']);
        expect((await events(database)).writer!.status).toBe('DISABLED');
        expect((await ws.run(['reactivate', slug])).code).toBe(0);
        expect((await events(database)).writer!.status).toBe('ENABLED');
      },
    );
  },
);

describe.skipIf(!reachable.includes('postgres'))('suspending a PostgreSQL tenant', () => {
  let ws: Workspace;
  const other = `tenantctl_other_${randomBytes(3).toString('hex')}`;
  beforeAll(async () => {
    ws = new Workspace('postgres');
  });
  afterAll(async () => {
    await ws.cleanup();
    const admin = ws.probe.admin('postgres');
    try {
      await admin.raw(`drop role if exists ${other}`);
    } finally {
      await admin.destroy();
    }
  });

  it("ends every session in its database, other roles' too, and keeps the admin's", { timeout: 60_000 }, async () => {
    const slug = ws.slug();
    expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
    const { database, user } = ws.names(slug) as { database: string; user: string };
    const { password } = (await ws.json(['show', slug, '--show-password'])).data as { password: string };
    const admin = ws.probe.admin(database);
    const asTenant = ws.probe.connectAs(database, user, password);
    const asOther = ws.probe.connectAs(database, other, null);
    try {
      await admin.raw(`create role ${other} login`);
      // The tenant owns its database and lets another role in: that role's sessions are the tenant's reach too.
      await asTenant.raw(`grant connect on database "${database}" to ${other}`);
      const pid = async (knex: Knex) => Number((await knex.raw('select pg_backend_pid() as pid')).rows[0].pid);
      const pids = { tenant: await pid(asTenant), other: await pid(asOther), admin: await pid(admin) };
      const alive = async () => {
        const result = await admin.raw('select pid from pg_stat_activity where datname = ?', [database]);
        const live = new Set((result.rows as Array<{ pid: number }>).map((r) => r.pid));
        return { tenant: live.has(pids.tenant), other: live.has(pids.other), admin: live.has(pids.admin) };
      };
      expect(await alive()).toEqual({ tenant: true, other: true, admin: true });

      const suspended = await ws.json(['suspend', slug]);
      expect(suspended.result.code, suspended.result.stderr).toBe(0);
      // Both ended; the admin's own session (tenantctl's, a backup's) spared.
      await waitFor(async () => !(await alive()).tenant && !(await alive()).other, 10_000);
      expect(await alive()).toEqual({ tenant: false, other: false, admin: true });
    } finally {
      await asTenant.destroy();
      await asOther.destroy();
      await admin.destroy();
    }
  });
});
