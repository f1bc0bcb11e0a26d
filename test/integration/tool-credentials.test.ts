import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { watchProcesses } from '../helpers/watch-processes.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';
import { REAL_DUMP, DUMP_ENV } from '../helpers/dump-tools.js';

const reachable = inject('reachableEngines');

for (const engine of selectedEngines()) {
  if (engine === 'sqlite') continue; // SQLite backups run in-process: no tool, no credentials
  describe.skipIf(!reachable.includes(engine))(`dump tool credentials on ${engine}`, () => {
    const secretKey = randomBytes(32).toString('hex');
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine, { env: { TENANTCTL_SECRET_KEY: secretKey } });
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it(
      'keeps the password and the secret key off the dump tool command line and out of its environment',
      { timeout: 180_000 },
      async () => {
        const password = `Pw-${randomBytes(12).toString('hex')}`;
        const admin = `tenantctl_env_${randomBytes(3).toString('hex')}`;
        const root = knexFactory({
          client: engine === 'postgres' ? 'pg' : 'mysql2',
          connection: SERVER_URLS[engine],
          pool: { min: 0, max: 1 },
        });
        const url = new URL(SERVER_URLS[engine]);
        url.username = admin;
        url.password = password;
        const record = join(ws.dir, 'tool-env.txt');
        try {
          if (engine === 'postgres') await root.raw(`create role ${admin} login superuser password '${password}'`);
          else {
            await root.raw(`create user '${admin}'@'%' identified by '${password}'`);
            await root.raw(`grant all privileges on *.* to '${admin}'@'%' with grant option`);
          }
          const env = {
            TENANTCTL_SERVER_URL: url.toString(),
            TENANTCTL_SERVER_NAME: `${engine}-env-check`,
            [DUMP_ENV[engine]]: join(FIXTURES, 'tools', 'env-recording-dump'),
            REAL_DUMP_TOOL: REAL_DUMP[engine],
            TOOL_ENV_RECORD: record,
            PGPASSWORD: password, // an operator's own variable must not reach the tool either
          };
          const slug = ws.slug();
          expect((await ws.run(['create', slug, '--no-seed'], env)).code).toBe(0);
          const running = ws.start(['backup', slug], env);
          const watched = await watchProcesses(running.done, (c) => /dump/.test(c) && !/tenantctl backup/.test(c));
          const seen = watched.flatMap((p) => [p.cmdline, p.environ]);
          const result = await running.done;
          expect(result.code, result.stderr).toBe(0);
          // We did watch the tool run: the wrapper sleeps a second with exactly the arguments and the
          // environment it then hands the real tool (which may finish between two looks at /proc).
          expect(seen.some((c) => /env-recording-dump\s+-/.test(c))).toBe(true);
          const environ = readFileSync(record, 'utf8');
          for (const text of [...seen, environ]) {
            expect(text).not.toContain(password);
            expect(text).not.toContain(secretKey);
          }
          if (engine === 'postgres') {
            const passfile = /^PGPASSFILE=(.+)$/m.exec(environ)?.[1];
            expect(passfile).toBeDefined();
            expect(environ).toMatch(/^PGPASSFILE_MODE=600$/m);
            expect(existsSync(passfile!)).toBe(false); // removed afterwards
          }
          expect(result.stdout + result.stderr).not.toContain(password);
        } finally {
          // The create's schema template was built by this admin's server entry: dropped while it can log in.
          await ws
            .run(['template', 'drop'], {
              TENANTCTL_SERVER_URL: url.toString(),
              TENANTCTL_SERVER_NAME: `${engine}-env-check`,
            })
            .catch(() => undefined);
          if (engine === 'postgres') await root.raw(`drop role if exists ${admin}`).catch(() => undefined);
          else await root.raw(`drop user if exists '${admin}'@'%'`);
          await root.destroy();
        }
      },
    );
  });
}
