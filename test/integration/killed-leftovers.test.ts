import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { processState, startUnreapedCli } from '../helpers/unreaped-child.js';
import { waitFor } from '../helpers/wait-for.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
import { REAL_DUMP, DUMP_ENV } from '../helpers/dump-tools.js';

const reachable = inject('reachableEngines');

interface BackupListed {
  id: number;
  status: string;
  file: string;
  error: string | null;
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`what a killed backup leaves behind, on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    const backupDir = (slug: string) => join(ws.dir, '.tenantctl', 'backups', slug);
    const partials = (slug: string) =>
      existsSync(backupDir(slug)) ? readdirSync(backupDir(slug)).filter((f) => f.endsWith('.partial')) : [];
    const backups = async (slug: string) => (await ws.json<BackupListed[]>(['backups', slug])).data;

    /**
     * Starts `args` and kills it (kill -9) once its dump is under way: PostgreSQL and MySQL through
     * a dump tool that stalls after its output; SQLite, whose dump runs in-process, on a tenant
     * large enough to be caught while its `.partial` file is being written.
     */
    async function killMidDump(slug: string, args: string[]): Promise<void> {
      const marker = join(ws.dir, `stalled-${slug}`);
      const env =
        engine === 'sqlite'
          ? {}
          : {
              [DUMP_ENV[engine]]: join(FIXTURES, 'tools', 'stalling-dump'),
              REAL_DUMP_TOOL: REAL_DUMP[engine],
              STALL_MARKER: marker,
            };
      const run = ws.start(args, env);
      if (engine === 'sqlite') {
        await waitFor(async () => partials(slug).length > 0, 60_000);
      } else {
        await waitFor(async () => existsSync(marker), 60_000);
      }
      run.child.kill('SIGKILL');
      expect((await run.done).signal).toBe('SIGKILL');
    }

    const createTenant = async () => {
      const slug = ws.slug();
      const created = await ws.run(['create', slug]);
      expect(created.code, created.stderr).toBe(0);
      if (engine === 'sqlite') {
        // 16 MB that does not compress: gzip takes long enough to be caught at work.
        const db = ws.probe.admin(ws.names(slug).database);
        try {
          await db.raw('create table ballast (b blob)');
          await db.raw(
            'insert into ballast with recursive n(i) as (select 1 union all select i + 1 from n where i < 16) select randomblob(1048576) from n',
          );
        } finally {
          await db.destroy();
        }
      }
      return slug;
    };

    it('the next backup marks a killed one interrupted and removes its partial file', async () => {
      const slug = await createTenant();
      await killMidDump(slug, ['backup', slug]);
      // What the kill left: a partial file and a record that says running.
      expect(partials(slug)).toHaveLength(1);
      const [killed] = await backups(slug);
      expect(killed!.status).toBe('running');

      const next = await ws.json(['backup', slug]);
      expect(next.result.code, next.result.stderr).toBe(0);
      expect(partials(slug)).toEqual([]);
      const [fresh, old] = await backups(slug);
      expect(fresh).toMatchObject({ status: 'ok' });
      expect(existsSync(fresh!.file)).toBe(true);
      expect(old).toMatchObject({ id: killed!.id, status: 'interrupted', error: expect.stringMatching(/is gone/) });
    });

    it('doctor reports a killed backup as interrupted_backup, and --fix clears it', async () => {
      const slug = await createTenant();
      await killMidDump(slug, ['backup', slug]);
      const ofSlug = (findings: Array<{ kind: string; tenant: string | null }>) =>
        findings.filter((f) => f.kind === 'interrupted_backup' && f.tenant === slug);

      const report = await ws.json(['doctor']);
      expect(report.result.code).toBe(1);
      expect(ofSlug(report.data.findings)).toHaveLength(1);
      expect((await backups(slug))[0]!.status).toBe('running'); // doctor without --fix changes nothing
      expect(partials(slug)).toHaveLength(1);

      const fixed = await ws.json(['doctor', '--fix']);
      expect(ofSlug(fixed.data.findings)).toMatchObject([{ fixed: true }]);
      expect(partials(slug)).toEqual([]);
      expect((await backups(slug))[0]!.status).toBe('interrupted');
      expect(ofSlug((await ws.json(['doctor'])).data.findings)).toEqual([]);
    });

    if (engine !== 'sqlite') {
      it('a delete killed during its final backup leaves nothing behind once it is finished', async () => {
        const slug = await createTenant();
        await killMidDump(slug, ['delete', slug, '--yes']);
        expect(partials(slug)).toHaveLength(1);
        const finished = await ws.json(['delete', slug, '--yes']);
        expect(finished.result.code, finished.result.stderr).toBe(0);
        expect(partials(slug)).toEqual([]);
        expect((await backups(slug)).map((b) => b.status)).toEqual(['ok', 'interrupted']);
        expect(await ws.probe.databaseExists(ws.names(slug).database)).toBe(false);
      });
    }
  });
}

describe.skipIf(!reachable.includes('sqlite'))("the embedded registry's locks", () => {
  let ws: Workspace;
  beforeEach(() => {
    ws = new Workspace('sqlite');
  });
  afterEach(async () => {
    await ws.cleanup();
  });
  const cli = () => ({ cwd: ws.dir, env: ws.env });

  it('a live create holds its tenant; killed and never reaped (a zombie), it holds nothing', async () => {
    const slug = ws.slug();
    // Replayed: from a template, the migrations run in the template's build, not at this step.
    const holder = await startUnreapedCli(['create', slug, '--no-seed', '--replay'], {
      ...cli(),
      env: { ...ws.env, TENANTCTL_MIGRATIONS_DIR: join(FIXTURES, 'slow-migrations') },
    });
    try {
      await waitFor(async () => (await ws.json(['show', slug])).data.step === 'migrations');
      const blocked = await ws.run(['create', slug]);
      expect(blocked.code).toBe(6);
      expect(blocked.stderr).toMatch(/another tenantctl is working on tenant/);

      process.kill(holder.pid, 'SIGKILL');
      await waitFor(async () => processState(holder.pid) === 'Z');
      const resumed = await ws.json(['create', slug, '--no-seed'], {
        TENANTCTL_MIGRATIONS_DIR: join(FIXTURES, 'slow-migrations'),
        SLOW_MIGRATION_MS: '0',
      });
      expect(resumed.result.code, resumed.result.stderr).toBe(0);
      expect(resumed.data.retried).toBe(true);
      expect(processState(holder.pid)).toBe('Z'); // it was still there, unreaped, all along
    } finally {
      await holder.reap();
    }
  });

  it('a live migrate-all holds the fleet; killed and never reaped, a waiting run proceeds and the next one too', async () => {
    for (let i = 0; i < 2; i++) expect((await ws.run(['create', ws.slug()])).code).toBe(0);
    writeFileSync(
      join(ws.dir, 'migrations', '20240401000000_zombie.js'),
      `exports.up = async (knex) => {
        require('node:fs').writeFileSync('zombie-started', '');
        await new Promise((resolve) => setTimeout(resolve, Number(process.env.SLOW_MIGRATION_MS ?? 60000)));
        await knex.schema.createTable('zombie_table', (t) => t.increments('id'));
      };
      exports.down = (knex) => knex.schema.dropTable('zombie_table');`,
    );
    // Replayed: from a template, the migrations run in the template's build, not at this step.
    const holder = await startUnreapedCli(['migrate-all', '--concurrency', '1'], cli());
    try {
      await waitFor(async () => existsSync(join(ws.dir, 'zombie-started')));
      const blocked = await ws.run(['migrate-all'], { SLOW_MIGRATION_MS: '0' });
      expect(blocked.code).toBe(6);

      const waiting = ws.start(['migrate-all', '--wait', '120', '--json'], { SLOW_MIGRATION_MS: '0' });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(waiting.child.exitCode).toBeNull(); // still queued behind the live holder
      process.kill(holder.pid, 'SIGKILL');
      await waitFor(async () => processState(holder.pid) === 'Z');
      const waited = await waiting.done;
      expect(waited.code, waited.stderr).toBe(0);
      expect(JSON.parse(waited.stdout).counts.migrated).toBeGreaterThanOrEqual(2);

      const next = await ws.json(['migrate-all']);
      expect(next.result.code, next.result.stderr).toBe(0);
      expect(processState(holder.pid)).toBe('Z');
    } finally {
      await holder.reap();
    }
  });

  it('a lock row naming a live process that is not tenantctl (a recycled pid) blocks nothing', async () => {
    const slug = ws.slug();
    const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
    const registry = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
    try {
      expect((await ws.run(['init'])).code).toBe(0);
      // What an older tenantctl recorded as its locks: rows naming host and pid.
      await registry.raw(
        'create table if not exists tenantctl_locks (name varchar(255) primary key, host varchar(255) not null, pid integer not null, acquired_at varchar(32) not null)',
      );
      for (const name of [`tenantctl:tenant:${slug}`, 'tenantctl:migrations']) {
        await registry('tenantctl_locks').insert({
          name,
          host: hostname(),
          pid: stranger.pid,
          acquired_at: new Date().toISOString(),
        });
      }
      expect(processState(stranger.pid!)).toMatch(/[RS]/);
      const created = await ws.run(['create', slug]);
      expect(created.code, created.stderr).toBe(0);
      const migrated = await ws.run(['migrate-all']);
      expect(migrated.code, migrated.stderr).toBe(0);
    } finally {
      stranger.kill('SIGKILL');
      await registry.destroy();
    }
  });
});
