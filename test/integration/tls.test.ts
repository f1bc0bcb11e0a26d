import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspace } from '../helpers/workspace.js';
import {
  OTHER_ADDRESS,
  makeTestCertificates,
  startTlsMariadb,
  startTlsPostgres,
  type TestCertificates,
} from '../helpers/own-tls-servers.js';
import type { OwnPostgres } from '../helpers/own-postgres.js';
import type { OwnMariadb } from '../helpers/own-mariadb.js';
import { openFleet } from '../../src/index.js';

// Own instances (this file's ports), TLS on and plain TCP refused: nothing here touches the shared servers.
const PG_PORT = 5472;
const MARIADB_PORTS = [3372, 3373, 3374];
const run = promisify(execFile);

/** How each engine's URL spells the TLS settings, and its own client's check that a session is encrypted. */
interface EngineCase {
  engine: 'postgres' | 'mysql';
  start(certs: TestCertificates): Promise<{
    adminUrl: (host: string, query: string, database?: string) => string;
    /** Runs a statement as the admin with the engine's own client, over TLS. */
    admin(sql: string): Promise<void>;
    stop(): Promise<void>;
  }>;
  verifyFull: (ca: string) => string;
  verifyCa: (ca: string) => string;
  /** The engine's own client over a tenant's URL (`tenantctl url --show-password`): whether the session uses TLS. */
  clientSaysEncrypted(url: string): Promise<boolean>;
}

const CASES: EngineCase[] = [
  {
    engine: 'postgres',
    async start(certs) {
      const pg: OwnPostgres = startTlsPostgres(PG_PORT, certs);
      return {
        adminUrl: (host, query, database = 'postgres') => `postgres://postgres@${host}:${PG_PORT}/${database}${query}`,
        admin: async (sql) => {
          const url = `postgresql://postgres@localhost:${PG_PORT}/postgres?sslmode=verify-full&sslrootcert=${certs.ca}`;
          await run('psql', [url, '-Atqc', sql], { env: { PATH: process.env.PATH } });
        },
        stop: async () => pg.destroy(),
      };
    },
    verifyFull: (ca) => `?sslmode=verify-full&sslrootcert=${ca}`,
    verifyCa: (ca) => `?sslmode=verify-ca&sslrootcert=${ca}`,
    async clientSaysEncrypted(url) {
      const { stdout } = await run('psql', [url, '-Atc', 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'], {
        env: { PATH: process.env.PATH },
      });
      return stdout.trim() === 't';
    },
  },
  {
    engine: 'mysql',
    async start(certs) {
      const my: OwnMariadb & { admin: { user: string; password: string } } = await startTlsMariadb(
        MARIADB_PORTS,
        certs,
      );
      return {
        adminUrl: (host, query, database = '') =>
          `mysql://${my.admin.user}:${my.admin.password}@${host}:${my.port}/${database}${query}`,
        admin: async (sql) => {
          const args = ['-h', 'localhost', '--protocol=TCP', '-P', String(my.port), '-u', my.admin.user];
          args.push(`--ssl-ca=${certs.ca}`, '--ssl-verify-server-cert', '-e', sql);
          await run('mariadb', args, { env: { PATH: process.env.PATH, MYSQL_PWD: my.admin.password } });
        },
        stop: () => my.stop(),
      };
    },
    verifyFull: (ca) => `?ssl-mode=VERIFY_IDENTITY&ssl-ca=${ca}`,
    verifyCa: (ca) => `?ssl-mode=VERIFY_CA&ssl-ca=${ca}`,
    async clientSaysEncrypted(url) {
      // The mariadb client takes no URL: its parts, the TLS parameters as its flags, the password by environment.
      const u = new URL(url);
      const args = ['-h', u.hostname, '--protocol=TCP', '-P', u.port, '-u', decodeURIComponent(u.username)];
      args.push(`--ssl-ca=${u.searchParams.get('ssl-ca')}`, '--ssl-verify-server-cert', '-N', '-e');
      args.push("show status like 'Ssl_version'", decodeURIComponent(u.pathname.slice(1)));
      const env = { PATH: process.env.PATH, MYSQL_PWD: decodeURIComponent(u.password) };
      const { stdout } = await run('mariadb', args, { env });
      return /TLSv1\.[23]/.test(stdout);
    },
  },
];

const certs = makeTestCertificates();
afterAll(() => rmSync(certs.dir, { recursive: true, force: true }));

describe('move between two TLS-only PostgreSQL servers (verify-full both ways)', () => {
  let pgA: OwnPostgres;
  let pgB: OwnPostgres;
  let ws: Workspace;
  const url = (port: number) =>
    `postgres://postgres@localhost:${port}/postgres?sslmode=verify-full&sslrootcert=${certs.ca}`;
  beforeAll(() => {
    pgA = startTlsPostgres(PG_PORT + 1, certs);
    pgB = startTlsPostgres(PG_PORT + 2, certs);
    ws = new Workspace('postgres', { env: { TENANTCTL_SERVER_URL: undefined } });
  }, 120_000);
  afterAll(async () => {
    await ws.probe.close();
    rmSync(ws.dir, { recursive: true, force: true });
    pgA.destroy();
    pgB.destroy();
  });

  it('create on one, move to the other, then the tenant works there', async () => {
    expect((await ws.run(['server', 'add', 'a', '--url', url(PG_PORT + 1)])).code).toBe(0);
    expect((await ws.run(['server', 'add', 'b', '--url', url(PG_PORT + 2)])).code).toBe(0);
    const slug = ws.slug();
    const created = await ws.run(['create', slug, '--server', 'a']);
    expect(created.code, created.stderr).toBe(0);
    const moved = await ws.run(['move', slug, '--to', 'b']);
    expect(moved.code, moved.stderr + moved.stdout).toBe(0);
    expect((await ws.json(['show', slug])).data.server).toBe('b');
    const migrated = await ws.run(['migrate', slug]);
    expect(migrated.code, migrated.stderr).toBe(0);
  }, 180_000);
});

for (const c of CASES) {
  describe(`TLS on ${c.engine} (a server that refuses plain TCP)`, () => {
    let server: Awaited<ReturnType<EngineCase['start']>>;
    let ws: Workspace;
    /** A workspace of its own per failing `server add`: its registry holds no server to clash with. */
    const fresh: Workspace[] = [];
    const isolated = () => {
      const w = new Workspace(c.engine, { env: { TENANTCTL_SERVER_URL: undefined } });
      fresh.push(w);
      return w;
    };

    beforeAll(async () => {
      server = await c.start(certs);
      ws = new Workspace(c.engine, {
        env: { TENANTCTL_SERVER_URL: server.adminUrl('localhost', c.verifyFull(certs.ca)) },
      });
    }, 120_000);
    afterAll(async () => {
      for (const w of [ws, ...fresh]) {
        await w.probe.close();
        rmSync(w.dir, { recursive: true, force: true });
      }
      await server.stop();
    });

    it('verify-full to localhost: create, migrate-all, backup, restore, stats, doctor, url (the client connects over TLS), the library', async () => {
      const slug = ws.slug();
      const created = await ws.run(['create', slug]);
      expect(created.code, created.stderr).toBe(0);
      const migrated = await ws.run(['migrate-all']);
      expect(migrated.code, migrated.stderr).toBe(0);
      const backedUp = await ws.run(['backup', slug]);
      expect(backedUp.code, backedUp.stderr + backedUp.stdout).toBe(0);
      const restored = await ws.run(['restore', slug, '--force']);
      expect(restored.code, restored.stderr).toBe(0);
      expect((await ws.run(['stats'])).code).toBe(0);
      const doctor = await ws.json(['doctor']);
      expect(doctor.result.code, doctor.result.stderr).toBe(0);

      const shown = await ws.run(['url', slug, '--show-password']);
      expect(shown.code, shown.stderr).toBe(0);
      const url = shown.stdout.trim();
      expect(url).toContain(c.verifyFull(certs.ca));
      expect(await c.clientSaysEncrypted(url)).toBe(true);

      const fleet = await openFleet({
        registryUrl: `sqlite:${join(ws.dir, '.tenantctl', 'registry.sqlite')}`,
        secretKeyFile: join(ws.dir, '.tenantctl', 'secret.key'),
        readOnly: true,
      });
      try {
        const config = await fleet.connectionConfig(slug);
        expect(config.ssl).toEqual({ mode: 'verify-full', ca: certs.ca });
        expect(await fleet.connectionString(slug)).toBe(url);
        const knex = await fleet.knex(slug);
        // The tenant's own session, over TLS to a server that refuses plain TCP.
        const [row] = await knex('roles').count<Array<{ n: number | string }>>('* as n');
        expect(Number(row!.n)).toBeGreaterThanOrEqual(0);
      } finally {
        await fleet.close();
      }
    }, 180_000);

    it('the registry on the TLS-only server: registryUrl with the same parameters; without them, exit 5 naming why', async () => {
      const database = 'tenantctl_registry_tls';
      await server.admin(`create database ${database}`);
      const registryUrl = server.adminUrl('localhost', c.verifyFull(certs.ca), database);
      const w = new Workspace(c.engine, {
        env: {
          TENANTCTL_SERVER_URL: server.adminUrl('localhost', c.verifyFull(certs.ca)),
          TENANTCTL_REGISTRY_URL: registryUrl,
          TENANTCTL_SECRET_KEY: randomBytes(32).toString('hex'),
        },
      });
      fresh.push(w);
      const slug = w.slug();
      const created = await w.run(['create', slug]);
      expect(created.code, created.stderr).toBe(0);
      const listed = await w.json(['list']);
      expect(listed.data.map((t: { slug: string }) => t.slug)).toContain(slug);
      const plain = await w.run(['list'], { TENANTCTL_REGISTRY_URL: server.adminUrl('localhost', '', database) });
      expect(plain.code).toBe(5);
      expect(plain.stderr.trim()).toMatch(/cannot reach the registry database .*: login refused/);
      expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    }, 120_000);

    it('`server show` shows the settings; `server update --url` changes them', async () => {
      const w = isolated();
      const added = await w.run(['server', 'add', 'tls1', '--url', server.adminUrl('localhost', c.verifyCa(certs.ca))]);
      expect(added.code, added.stderr).toBe(0);
      const before = await w.json(['server', 'show', 'tls1']);
      expect(before.data.tls).toEqual(
        c.engine === 'postgres'
          ? { sslmode: 'verify-ca', sslrootcert: certs.ca }
          : { 'ssl-mode': 'VERIFY_CA', 'ssl-ca': certs.ca },
      );
      const updated = await w.run([
        'server',
        'update',
        'tls1',
        '--url',
        server.adminUrl('localhost', c.verifyFull(certs.ca)),
      ]);
      expect(updated.code, updated.stderr).toBe(0);
      const after = await w.json(['server', 'show', 'tls1']);
      expect(Object.values(after.data.tls as object)).toContain(
        c.engine === 'postgres' ? 'verify-full' : 'VERIFY_IDENTITY',
      );
      expect(after.data.url).toContain(c.verifyFull(certs.ca));
      // A settings change that does not connect is refused, and the old settings stay.
      const wrong = await w.run(['server', 'update', 'tls1', '--url', server.adminUrl('localhost', '')]);
      expect(wrong.code).toBe(5);
      expect((await w.json(['server', 'show', 'tls1'])).data.url).toContain(c.verifyFull(certs.ca));
    }, 60_000);

    const refusals: Array<[string, (ca: TestCertificates) => [string, string], RegExp]> = [
      ['a plain connection', () => ['localhost', ''], /unreachable: login refused/],
      [
        'verify-full to an address the certificate does not name',
        (k) => [OTHER_ADDRESS, c.verifyFull(k.ca)],
        /unreachable: certificate rejected: .*altnames.*127\.0\.0\.2/,
      ],
      [
        'a certificate another CA signed',
        (k) => ['localhost', c.verifyCa(k.otherCa)],
        /unreachable: certificate rejected: self[- ]signed certificate in certificate chain/,
      ],
    ];
    for (const [what, target, expected] of refusals) {
      it(`${what}: exit 5 with a one-line reason, within the connect timeout`, async () => {
        const [host, query] = target(certs);
        const started = Date.now();
        const refused = await isolated().run(['server', 'add', 'x', '--url', server.adminUrl(host, query)], {
          TENANTCTL_CONNECT_TIMEOUT: '5',
        });
        expect(Date.now() - started).toBeLessThan(5_000 + 3_000);
        expect(refused.code, refused.stderr).toBe(5);
        const lines = refused.stderr.split('\n').filter((line) => line && !line.startsWith('warning:'));
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(expected);
      }, 30_000);
    }

    if (c.engine === 'postgres')
      it('the plain refusal names TLS: the server takes the login over TLS only', async () => {
        const refused = await isolated().run(['server', 'add', 'x', '--url', server.adminUrl('localhost', '')]);
        expect(refused.stderr).toMatch(
          /no encryption \(the server takes this login over TLS only: add sslmode=require/,
        );
      });

    it('TLS asked of a server without it: TLS refused, exit 5', async () => {
      // The main shared server runs without TLS; only asked whether it takes TLS, nothing changed on it.
      const plainUrl =
        c.engine === 'postgres'
          ? 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=require'
          : 'mysql://root@127.0.0.1:3306/?ssl-mode=REQUIRED';
      const refused = await isolated().run(['server', 'add', 'x', '--url', plainUrl]);
      expect(refused.code, refused.stderr).toBe(5);
      expect(refused.stderr.trim()).toMatch(/unreachable: TLS refused: .*(does not support|secure connection)/i);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    });
  });
}

it('URL parameters tenantctl does not understand are refused (exit 2), not dropped', () => {
  const bin = join(__dirname, '..', '..', 'bin', 'tenantctl');
  const result = spawnSync(
    process.execPath,
    [bin, 'server', 'add', 'x', '--url', 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=maybe'],
    {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TENANTCTL_HOME: certs.dir },
    },
  );
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(/sslmode=maybe is not a TLS mode/);
});
