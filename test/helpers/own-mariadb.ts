import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { waitFor } from './wait-for.js';

/** Refused connections are expected while it starts: knex need not print them. */
const QUIET = { warn() {}, error() {}, deprecate() {}, debug() {} };

/** Ports this file's instances may take: its own, apart from the shared servers'. */
const PORTS = [3365, 3366, 3367, 3368, 3369];

/**
 * A MariaDB server of a test's own, in a temporary directory, for what must not be switched on
 * in the shared one: the event scheduler, the general query log. Removed by `stop`.
 */
export interface OwnMariadb {
  url: string;
  port: number;
  /** The general query log, when it was asked for. */
  generalLog(): string;
  /** A root connection to `database` (or none). */
  root(database?: string): Knex;
  stop(): Promise<void>;
}

const portTaken = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** Whether this machine can run one (mariadbd and mariadb-install-db installed). */
export function canRunOwnMariadb(): boolean {
  const installer = spawnSync('sh', ['-c', 'command -v mariadb-install-db'], { stdio: 'ignore' }).status === 0;
  return installer && existsSync('/usr/sbin/mariadbd');
}

export async function startOwnMariadb(options: {
  eventScheduler?: boolean;
  generalLog?: boolean;
}): Promise<OwnMariadb> {
  let port: number | undefined;
  for (const candidate of PORTS) {
    if (!(await portTaken(candidate))) {
      port = candidate;
      break;
    }
  }
  if (port === undefined) throw new Error(`no free port among ${PORTS.join(', ')} for a test MariaDB`);
  const dir = mkdtempSync(join(tmpdir(), 'tenantctl-own-mariadb-'));
  // mariadbd will not run as root: it runs as mysql, which must own its directory.
  const asRoot = userInfo().uid === 0;
  const mysqlUser = asRoot ? ['--user=mysql'] : [];
  if (asRoot) {
    const ids = spawnSync('id', ['-u', 'mysql'], { encoding: 'utf8' }).stdout.trim();
    const gid = spawnSync('id', ['-g', 'mysql'], { encoding: 'utf8' }).stdout.trim();
    chownSync(dir, Number(ids), Number(gid));
  }
  const installed = spawnSync(
    'mariadb-install-db',
    [...mysqlUser, `--datadir=${dir}/data`, '--auth-root-authentication-method=normal', '--skip-test-db'],
    { encoding: 'utf8' },
  );
  if (installed.status !== 0) throw new Error(`mariadb-install-db failed: ${installed.stderr}`);
  const log = join(dir, 'general.log');
  const server: ChildProcess = spawn(
    '/usr/sbin/mariadbd',
    [
      '--no-defaults',
      ...mysqlUser,
      `--datadir=${dir}/data`,
      `--port=${port}`,
      `--socket=${dir}/mysqld.sock`,
      `--pid-file=${dir}/mysqld.pid`,
      '--bind-address=127.0.0.1',
      `--log-error=${dir}/error.log`,
      '--skip-name-resolve',
      `--event-scheduler=${options.eventScheduler ? 'ON' : 'OFF'}`,
      ...(options.generalLog ? ['--general-log=1', `--general-log-file=${log}`] : []),
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const url = `mysql://root@127.0.0.1:${port}`;
  const root = (database?: string) =>
    knexFactory({
      client: 'mysql2',
      connection: { host: '127.0.0.1', port, user: 'root', database },
      pool: { min: 0, max: 1 },
      log: QUIET,
    });
  const stop = async () => {
    server.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      const probe = root();
      try {
        await probe.raw('select 1');
        return true;
      } finally {
        await probe.destroy();
      }
    }, 60_000);
    // mariadb-install-db's anonymous accounts would match tenant logins before 'user'@'%'.
    const admin = root();
    try {
      const [anonymous] = await admin.raw("select host from mysql.user where user = ''");
      for (const { host } of anonymous as Array<{ host: string }>) await admin.raw("drop user ''@?", [host]);
    } finally {
      await admin.destroy();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, port, root, stop, generalLog: () => readFileSync(log, 'utf8') };
}
