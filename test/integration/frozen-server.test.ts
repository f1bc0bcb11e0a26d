import type { ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CliResult } from '../helpers/cli.js';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { startPrivateServer, type PrivateServer } from '../helpers/private-server.js';
import { canQuery } from '../helpers/server-probe.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** This file's own servers (never the shared ones): the fleet's, and a move target. */
const PORTS = { postgres: { fleet: 5440, target: 5442 }, mysql: { fleet: 3340, target: 3342 } } as const;

/**
 * Short timeouts, so that a frozen server costs seconds here: heartbeats every 2 s (two missed:
 * lost), tenantctl's own statements cut after 5 s.
 */
const TIMEOUTS = { TENANTCTL_CONNECT_TIMEOUT: '2', TENANTCTL_STATEMENT_TIMEOUT: '5s' };

/**
 * What a frozen server used to cost: commands hung until it came back. Each command here must
 * exit by itself well within this (it takes seconds); one still running is killed and fails.
 */
const BOUND_MS = 90_000;

async function exitsWithin(run: { child: ChildProcess; done: Promise<CliResult> }) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), BOUND_MS)));
  const first = await Promise.race([run.done, late]);
  clearTimeout(timer);
  if (first === 'hung') {
    run.child.kill('SIGKILL');
    throw new Error(`still running after ${BOUND_MS / 1000} s with its server frozen`);
  }
  return first;
}

const log = { warn() {}, error() {}, deprecate() {}, debug() {} };

for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`a server that stops answering (${engine})`, () => {
    let server: PrivateServer;
    let ws: Workspace;
    const slugs: string[] = [];
    /** An admin session on the fleet's server, held by the test (e.g. to lock a table). */
    const admin = (database?: string): Knex => {
      const url = new URL(server.url);
      return knexFactory({
        client: engine === 'postgres' ? 'pg' : 'mysql2',
        connection: {
          host: url.hostname,
          port: Number(url.port),
          user: decodeURIComponent(url.username),
          database: database ?? (url.pathname.slice(1) || undefined),
        },
        pool: { min: 0, max: 1 },
        log,
      });
    };
    const rows = (result: any): any[] => (engine === 'postgres' ? result.rows : result[0]);
    /**
     * Holds an exclusive lock on a tenant's table, so tenantctl's next statement on it waits;
     * returns the release (PostgreSQL: in a transaction; MySQL: the session's LOCK TABLES).
     */
    const lockTable = async (slug: string) => {
      const database = ws.names(slug).database;
      const session = admin(engine === 'postgres' ? database : undefined);
      if (engine === 'postgres') {
        const trx = await session.transaction();
        await trx.raw('lock table users in access exclusive mode');
        return async () => {
          await trx.rollback();
          await session.destroy();
        };
      }
      await session.raw(`lock tables \`${database}\`.users write`);
      return () => session.destroy();
    };
    /** True once some session (tenantctl's) is waiting for the lock the test holds. */
    const waitingForLock = async () => {
      const probe = admin();
      try {
        const sql =
          engine === 'postgres'
            ? "select count(*) as n from pg_stat_activity where wait_event_type = 'Lock'"
            : "select count(*) as n from information_schema.processlist where state like 'Waiting for table metadata lock%'";
        return Number(rows(await probe.raw(sql))[0].n) > 0;
      } finally {
        await probe.destroy();
      }
    };
    /** Runs `args` and freezes the server once `ready` holds; thaws it again whatever happens. */
    const frozenDuring = async (args: string[], ready: () => Promise<boolean>, env: Record<string, string> = {}) => {
      const run = ws.start([...args, '--json'], env);
      try {
        await waitFor(ready, 60_000);
        server.freeze();
        return await exitsWithin(run);
      } finally {
        server.thaw();
      }
    };
    const expectUnreachable = (result: CliResult, within: (data: any) => any = (data) => data) => {
      const data = JSON.parse(result.stdout);
      expect(within(data).unreachableServers, result.stdout).toEqual([
        expect.objectContaining({ address: `127.0.0.1:${server.port}`, reason: 'timed out' }),
      ]);
      return data;
    };

    beforeAll(async () => {
      server = await startPrivateServer(engine, PORTS[engine].fleet);
      ws = new Workspace(engine, { env: { TENANTCTL_SERVER_URL: server.url, ...TIMEOUTS } });
      for (let i = 0; i < 4; i++) {
        const slug = ws.slug('fz');
        const created = await ws.run(['create', slug, '--no-seed']);
        expect(created.code, created.stderr).toBe(0);
        slugs.push(slug);
      }
    }, 300_000);
    afterAll(async () => {
      await server?.remove();
      await ws?.cleanup();
    }, 120_000);

    it('migrate-all: the run notices once, lists the server and ends', { timeout: 180_000 }, async () => {
      // A migration that is still running when the server freezes.
      const migrations = mkdtempSync(join(tmpdir(), 'tenantctl-frozen-migrations-'));
      const marker = join(migrations, 'started');
      cpSync(join(ws.dir, 'migrations'), migrations, { recursive: true });
      writeFileSync(
        join(migrations, '900_long.js'),
        `exports.up = async (knex) => {
          require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x');
          await knex.raw(knex.client.config.client === 'pg' ? 'select pg_sleep(30)' : 'select sleep(30)');
        };
        exports.down = () => {};`,
      );
      try {
        const result = await frozenDuring(['migrate-all', '--concurrency', '1'], async () => existsSync(marker), {
          TENANTCTL_MIGRATIONS_DIR: migrations,
        });
        expect(result.code, result.stderr).toBe(1);
        const data = expectUnreachable(result);
        expect(data.unreachableServers[0].tenants).toBe(slugs.length);
        expect(data.tenants.map((t: { outcome: string }) => t.outcome)).toEqual(slugs.map(() => 'unreachable'));
        // The run is recorded as finished, not left running: the next one starts at once.
        const runs = await ws.json(['runs']);
        expect(runs.data[0]).toMatchObject({ id: data.runId, status: 'failed' });
      } finally {
        rmSync(migrations, { recursive: true, force: true });
      }
    });

    it(
      'migrate-all --tenant-timeout: each tenant is cut at its deadline and the process exits',
      { timeout: 180_000 },
      async () => {
        const migrations = mkdtempSync(join(tmpdir(), 'tenantctl-frozen-migrations-'));
        const marker = join(migrations, 'started');
        cpSync(join(ws.dir, 'migrations'), migrations, { recursive: true });
        writeFileSync(
          join(migrations, '901_long.js'),
          `exports.up = async (knex) => {
          require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x');
          await knex.raw(knex.client.config.client === 'pg' ? 'select pg_sleep(30)' : 'select sleep(30)');
        };
        exports.down = () => {};`,
        );
        try {
          // No heartbeat within the run (60 s apart): only the tenant timeout frees it.
          const result = await frozenDuring(
            ['migrate-all', '--concurrency', '1', '--tenant-timeout', '3s'],
            async () => existsSync(marker),
            { TENANTCTL_MIGRATIONS_DIR: migrations, TENANTCTL_CONNECT_TIMEOUT: '30' },
          );
          expect(result.code, result.stderr).toBe(1);
          const data = JSON.parse(result.stdout);
          expect(data.tenants[0]).toMatchObject({ outcome: 'failed', timedOut: true });
          for (const tenant of data.tenants) expect(['failed', 'unreachable']).toContain(tenant.outcome);
        } finally {
          rmSync(migrations, { recursive: true, force: true });
        }
      },
    );

    it('stats --exact: the server is reported unreachable, its tenants unknown', { timeout: 180_000 }, async () => {
      const unlock = await lockTable(slugs[0]!);
      try {
        const result = await frozenDuring(['stats', '--exact'], waitingForLock);
        expect(result.code, result.stderr).toBe(1);
        const data = expectUnreachable(result);
        expect(data.tenants.map((t: { reachable: boolean }) => t.reachable)).toEqual(slugs.map(() => false));
      } finally {
        await unlock();
      }
    });

    it('backup --all: the dump is stopped, nothing half-written is kept', { timeout: 180_000 }, async () => {
      const unlock = await lockTable(slugs[0]!);
      try {
        const result = await frozenDuring(['backup', '--all', '--concurrency', '1'], waitingForLock);
        expect(result.code, result.stderr).toBe(1);
        const data = expectUnreachable(result, (all) => all.tenants);
        // The tenants before the locked one (in slug order) were backed up; from it on, none is.
        const locked = [...slugs].sort().indexOf(slugs[0]!);
        expect(
          data.tenants.tenants.map((t: { outcome: string }) => t.outcome),
          result.stdout,
        ).toEqual([...slugs].sort().map((_, i) => (i < locked ? 'ok' : 'unreachable')));
        const backups = join(ws.dir, '.tenantctl', 'backups');
        const files = existsSync(backups) ? readdirSync(backups, { recursive: true }).map(String) : [];
        expect(files.filter((f) => f.endsWith('.partial'))).toEqual([]);
      } finally {
        await unlock();
      }
    });

    it(
      'move: a target that freezes mid-copy is rolled back and the tenant works on the source',
      { timeout: 240_000 },
      async () => {
        const target = await startPrivateServer(engine, PORTS[engine].target);
        // This tenant lives on the main test server; only the target is this test's own.
        const local = new Workspace(engine, { env: { TENANTCTL_SERVER_URL: SERVER_URLS[engine], ...TIMEOUTS } });
        try {
          const slug = local.slug('mv');
          expect((await local.run(['create', slug, '--no-seed'])).code).toBe(0);
          expect((await local.run(['server', 'add', 'frozen-target', '--url', target.url])).code).toBe(0);
          const run = local.start(['move', slug, '--to', 'frozen-target', '--json'], {
            TENANTCTL_TEST_PAUSE_AT: 'copy',
            TENANTCTL_TEST_PAUSE_MS: '3000',
          });
          let stderr = '';
          run.child.stderr?.on('data', (chunk) => (stderr += chunk));
          let result: CliResult;
          try {
            await waitFor(async () => stderr.includes('TENANTCTL_TEST_PAUSED copy'), 60_000);
            target.freeze();
            result = await exitsWithin(run);
          } finally {
            target.thaw();
          }
          expect(result.code, result.stdout).toBe(1);
          expect(JSON.parse(result.stdout).error.message).toMatch(/stays on server/);
          // The tenant is back on its source: not fenced, not moving, and its own user logs in.
          const shown = await local.json(['show', slug, '--show-password']);
          expect(shown.data).toMatchObject({ status: 'active', step: null });
          const { database, user } = local.names(slug);
          expect(await canQuery(local.probe.connectAs(database, user, shown.data.password))).toBe(true);
        } finally {
          await target.remove();
          await local.cleanup();
        }
      },
    );
  });
}
