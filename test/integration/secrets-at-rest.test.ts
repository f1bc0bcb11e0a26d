import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { nativePasswordHash } from '../../src/engines/mysql-password.js';
import { SERVER_URLS } from '../helpers/engines.js';
import { canRunOwnMariadb, startOwnMariadb, type OwnMariadb } from '../helpers/own-mariadb.js';
import { waitFor } from '../helpers/wait-for.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';
import { REAL_DUMP, DUMP_ENV } from '../helpers/dump-tools.js';

const reachable = inject('reachableEngines');
const FILE = { postgres: 'pgpass', mysql: 'client.cnf' } as const;

for (const engine of ['postgres', 'mysql'] as const) {
  describe.skipIf(!reachable.includes(engine))(`credential files of a dump killed with kill -9, on ${engine}`, () => {
    const password = `Pw-${randomBytes(12).toString('hex')}`;
    const admin = `tenantctl_cred_${randomBytes(3).toString('hex')}`;
    let ws: Workspace;
    let env: Record<string, string>;
    const root = knexFactory({
      client: engine === 'postgres' ? 'pg' : 'mysql2',
      connection: SERVER_URLS[engine],
      pool: { min: 0, max: 1 },
    });
    beforeAll(async () => {
      // An admin with a password, so that the dump tool gets a credential file at all.
      if (engine === 'postgres') await root.raw(`create role ${admin} login superuser password '${password}'`);
      else {
        await root.raw(`create user '${admin}'@'%' identified by '${password}'`);
        await root.raw(`grant all privileges on *.* to '${admin}'@'%' with grant option`);
      }
      const url = new URL(SERVER_URLS[engine]);
      url.username = admin;
      url.password = password;
      env = { TENANTCTL_SERVER_URL: url.toString(), TENANTCTL_SERVER_NAME: `${engine}-cred-check` };
      ws = new Workspace(engine, { env });
    });
    afterAll(async () => {
      await ws.cleanup();
      if (engine === 'postgres') await root.raw(`drop role if exists ${admin}`).catch(() => undefined);
      else await root.raw(`drop user if exists '${admin}'@'%'`);
      await root.destroy();
    });

    const folder = () => join(ws.dir, '.tenantctl', 'tool-credentials');
    const files = () => (existsSync(folder()) ? readdirSync(folder()) : []);

    /** Starts a backup and kills it (kill -9) while its dump tool runs; returns the file it left. */
    async function killMidDump(slug: string): Promise<string> {
      const marker = join(ws.dir, `stalled-${slug}-${randomBytes(2).toString('hex')}`);
      const run = ws.start(['backup', slug], {
        [DUMP_ENV[engine]]: join(FIXTURES, 'tools', 'stalling-dump'),
        REAL_DUMP_TOOL: REAL_DUMP[engine],
        STALL_MARKER: marker,
      });
      await waitFor(async () => existsSync(marker), 60_000);
      const during = files();
      expect(during).toEqual([expect.stringMatching(new RegExp(`^${run.child.pid}-[0-9a-f]{12}-${FILE[engine]}$`))]);
      run.child.kill('SIGKILL');
      expect((await run.done).signal).toBe('SIGKILL');
      return join(folder(), during[0]!);
    }

    it(
      'leaves its file under home (0600 in 0700), which doctor reports and --fix removes',
      { timeout: 180_000 },
      async () => {
        const slug = ws.slug();
        expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
        const left = await killMidDump(slug);
        expect(existsSync(left)).toBe(true);
        expect(statSync(left).mode & 0o777).toBe(0o600);
        expect(statSync(folder()).mode & 0o777).toBe(0o700);
        // The dump logs in as the tenant: its password is what makes a leftover worth finding.
        const tenantPassword = (await ws.json(['show', slug, '--show-password'])).data.password as string;
        expect(readFileSync(left, 'utf8')).toContain(tenantPassword);

        const report = await ws.json(['doctor']);
        expect(report.result.code).toBe(1);
        const leftovers = report.data.findings.filter((f: { kind: string }) => f.kind === 'credential_leftover');
        expect(leftovers).toMatchObject([
          { severity: 'problem', autoFix: true, target: { type: 'directory', path: folder() } },
        ]);
        expect(leftovers[0].message).toContain(left.split('/').pop());
        expect(leftovers[0].message).not.toContain(tenantPassword);
        expect(leftovers[0].message).not.toContain(password);
        expect(existsSync(left)).toBe(true); // doctor without --fix changes nothing

        const fixed = await ws.json(['doctor', '--fix']);
        expect(fixed.data.findings.filter((f: { kind: string }) => f.kind === 'credential_leftover')).toMatchObject([
          { fixed: true },
        ]);
        expect(files()).toEqual([]);
      },
    );

    it(
      'the next backup sweeps the files of killed runs, and leaves none of its own',
      { timeout: 180_000 },
      async () => {
        const slug = ws.slug();
        expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
        const first = await killMidDump(slug);
        // The next run's dump swept the first one's file before writing its own (killMidDump saw only its own).
        const second = await killMidDump(slug);
        expect([existsSync(first), existsSync(second)]).toEqual([false, true]);
        const next = await ws.json(['backup', slug]);
        expect(next.result.code, next.result.stderr).toBe(0);
        expect(files()).toEqual([]);
      },
    );
  });
}

describe.skipIf(!reachable.includes('postgres'))('a password with an unescaped @ in --url', () => {
  let ws: Workspace;
  beforeAll(() => {
    // No configured server: the one `server add` names is new to the registry.
    ws = new Workspace('postgres', { env: { TENANTCTL_SERVER_URL: undefined } });
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it(
    'is refused by server add (exit 2) with the escaping rule, and never reaches the audit log',
    { timeout: 60_000 },
    async () => {
      expect((await ws.run(['list'])).code).toBe(0); // the registry exists, so a failed command could be recorded
      // The main test server trusts local logins: a password that parsed would be accepted as it came.
      const url = 'postgres://postgres:Secret1@Part2xyz@127.0.0.1:5432/postgres';
      const refused = await ws.json(['server', 'add', 'at-sign', '--url', url]);
      expect(refused.result.code).toBe(2);
      expect(refused.data.error.message).toMatch(/@ as %40/);
      expect(refused.result.stdout + refused.result.stderr).not.toMatch(/Secret1|Part2xyz/);

      const escaped = await ws.json([
        'server',
        'add',
        'escaped',
        '--url',
        'postgres://postgres:Secret1%40Part2xyz@127.0.0.1:5432/postgres',
      ]);
      expect(escaped.result.code, escaped.result.stderr).toBe(0);

      const log = await ws.json(['log']);
      expect(log.result.code).toBe(0);
      const text = JSON.stringify(log.data);
      expect(text).toContain('escaped'); // the successful add is there, masked
      expect(text).toContain('postgres://postgres:********@127.0.0.1:5432/postgres');
      expect(text).not.toMatch(/Secret1|Part2xyz/);
    },
  );
});

describe.skipIf(!reachable.includes('mysql') || !canRunOwnMariadb())(
  "MariaDB tenant passwords and the server's general query log (a server of the test's own)",
  () => {
    let own: OwnMariadb;
    let ws: Workspace;
    beforeAll(async () => {
      own = await startOwnMariadb({ generalLog: true });
      ws = new Workspace('mysql', { env: { TENANTCTL_SERVER_URL: own.url } });
    }, 120_000);
    afterAll(async () => {
      await ws?.cleanup();
      await own?.stop();
    });

    it(
      'create and rotate-password send only the hash: the plaintext is never logged',
      { timeout: 120_000 },
      async () => {
        const slug = ws.slug();
        expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
        const first = (await ws.json(['show', slug, '--show-password'])).data.password as string;
        const rotated = await ws.json(['rotate-password', slug]);
        expect(rotated.result.code, rotated.result.stderr).toBe(0);
        const second = (await ws.json(['show', slug, '--show-password'])).data.password as string;
        expect(second).not.toBe(first);
        // The application logs in with the new one.
        const app = knexFactory({
          client: 'mysql2',
          connection: { host: '127.0.0.1', port: own.port, user: ws.names(slug).user!, password: second },
          pool: { min: 0, max: 1 },
        });
        try {
          await app.raw('select 1');
        } finally {
          await app.destroy();
        }

        const log = own.generalLog();
        expect(log).toMatch(/create user/i); // the log did record the statements
        expect(log).toContain(nativePasswordHash(first));
        expect(log).toContain(nativePasswordHash(second));
        expect(log).not.toContain(first);
        expect(log).not.toContain(second);
      },
    );
  },
);
