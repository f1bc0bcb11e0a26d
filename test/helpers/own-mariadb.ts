import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';

/** Refused connections are expected while it starts: knex need not print them. */
const QUIET = { warn() {}, error() {}, deprecate() {}, debug() {} };

/** Ports this file's instances may take: its own, apart from the shared servers'. */
const PORTS = [3365, 3366, 3367, 3368, 3369];

/**
 * A MariaDB server of a test's own, in a temporary directory, for what must not be switched on
 * in the shared one: the event scheduler, the general query log, binlog replication. Removed by `stop`.
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
  /** Ports to try instead of this file's own (a test's assigned range). */
  ports?: number[];
  /** Addresses to listen on (comma-separated); default 127.0.0.1. */
  bindAddress?: string;
  /** TLS on: the server's CA, certificate and key files (readable by the server's user). */
  tls?: { ca: string; cert: string; key: string };
  /** More server options: an online move's source needs `--log-bin`, `--binlog-format=ROW`, a `--server-id`. */
  settings?: string[];
}): Promise<OwnMariadb> {
  const dir = mkdtempSync(join(tmpdir(), 'tenantctl-own-mariadb-'));
  // mariadbd will not run as root: it runs as mysql, which must own its directory.
  const asRoot = userInfo().uid === 0;
  const mysqlUser = asRoot ? ['--user=mysql'] : [];
  if (asRoot) {
    const uid = spawnSync('id', ['-u', 'mysql'], { encoding: 'utf8' }).stdout.trim();
    const gid = spawnSync('id', ['-g', 'mysql'], { encoding: 'utf8' }).stdout.trim();
    chownSync(dir, Number(uid), Number(gid));
  }
  const installed = spawnSync(
    'mariadb-install-db',
    [...mysqlUser, `--datadir=${dir}/data`, '--auth-root-authentication-method=normal', '--skip-test-db'],
    { encoding: 'utf8' },
  );
  if (installed.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed: ${installed.stderr}`);
  }
  const log = join(dir, 'general.log');
  // Another test file may start one at the same moment: a port that turns out taken (the server
  // exits, or another instance answers) is given up for the next.
  const ports = options.ports ?? PORTS;
  for (const port of ports) {
    if (await portTaken(port)) continue;
    const server: ChildProcess = spawn(
      '/usr/sbin/mariadbd',
      [
        '--no-defaults',
        ...mysqlUser,
        `--datadir=${dir}/data`,
        `--port=${port}`,
        `--socket=${dir}/mysqld.sock`,
        `--pid-file=${dir}/mysqld.pid`,
        `--bind-address=${options.bindAddress ?? '127.0.0.1'}`,
        `--log-error=${dir}/error.log`,
        '--skip-name-resolve',
        `--event-scheduler=${options.eventScheduler ? 'ON' : 'OFF'}`,
        ...(options.generalLog ? ['--general-log=1', `--general-log-file=${log}`] : []),
        ...(options.tls
          ? [`--ssl-ca=${options.tls.ca}`, `--ssl-cert=${options.tls.cert}`, `--ssl-key=${options.tls.key}`]
          : []),
        ...(options.settings ?? []),
      ],
      { stdio: 'ignore' },
    );
    let running = true;
    const exited = new Promise<void>((resolve) =>
      server.once('exit', () => {
        running = false;
        resolve();
      }),
    );
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
    // Ours when the server on the port serves our data directory.
    const answering = async (): Promise<'ours' | 'other' | 'none'> => {
      const probe = root();
      try {
        const [rows] = await probe.raw('select @@datadir as dir');
        return String(rows[0].dir).startsWith(`${dir}/data`) ? 'ours' : 'other';
      } catch {
        return 'none';
      } finally {
        await probe.destroy();
      }
    };
    let state: 'ours' | 'other' | 'none' = 'none';
    const deadline = Date.now() + 60_000;
    while (running && state === 'none' && Date.now() < deadline) {
      state = await answering();
      if (state === 'none') await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (state !== 'ours') {
      server.kill('SIGTERM');
      await exited;
      if (Date.now() >= deadline) break;
      continue;
    }
    try {
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
    return { url: `mysql://root@127.0.0.1:${port}`, port, root, stop, generalLog: () => readFileSync(log, 'utf8') };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`no test MariaDB could start on any of ports ${ports.join(', ')}`);
}
