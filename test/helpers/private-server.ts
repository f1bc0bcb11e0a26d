import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait-for.js';

/**
 * A database server of a test's own: initdb / mariadb-install-db into a temporary directory,
 * started on a port of the test's range. Only such a server may be frozen (`kill -STOP`), as a
 * stalled VM or a lost network looks to tenantctl: the main and second instances are shared with
 * every other test run on the machine.
 */
export interface PrivateServer {
  engine: 'postgres' | 'mysql';
  /** The admin URL (no password: the server trusts local logins). */
  url: string;
  port: number;
  /** Stops every process of the server (SIGSTOP): its sockets stay open, nothing answers. */
  freeze(): void;
  /** Lets a frozen server run again (SIGCONT). */
  thaw(): void;
  /** Stops the server (thawing it first) and removes its directory. */
  remove(): Promise<void>;
}

const PG_BIN = (() => {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  return join('/usr/lib/postgresql', versions[0]!, 'bin');
})();

/** The pids of a process and all its descendants, parents first. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree: number[] = [];
  const visit = (pid: number) => {
    tree.push(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(root);
  return tree;
}

function signalTree(root: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
  // Parents first when stopping (no new children while the rest stop), children first when resuming.
  const pids = processTree(root);
  for (const pid of signal === 'SIGSTOP' ? pids : pids.reverse()) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

export async function startPrivateServer(engine: 'postgres' | 'mysql', port: number): Promise<PrivateServer> {
  return engine === 'postgres' ? startPostgres(port) : startMariadb(port);
}

async function startPostgres(port: number): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tenantctl-private-pg-'));
  const data = join(dir, 'data');
  chownSync(dir, uid('postgres'), gid('postgres'));
  const asPostgres = (cmd: string, args: string[]) =>
    execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], { stdio: 'pipe' });
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
  asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start']);
  const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    engine: 'postgres',
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    freeze: () => signalTree(postmaster, 'SIGSTOP'),
    thaw: () => signalTree(postmaster, 'SIGCONT'),
    async remove() {
      signalTree(postmaster, 'SIGCONT');
      try {
        asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

async function startMariadb(port: number): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tenantctl-private-mariadb-'));
  chownSync(dir, uid('mysql'), gid('mysql'));
  execFileSync(
    'mariadb-install-db',
    ['--user=mysql', `--datadir=${dir}`, '--auth-root-authentication-method=normal', '--skip-test-db'],
    { stdio: 'pipe' },
  );
  const child: ChildProcess = spawn(
    '/usr/sbin/mariadbd',
    [
      '--no-defaults',
      '--user=mysql',
      `--datadir=${dir}`,
      `--port=${port}`,
      `--socket=${join(dir, 'mysqld.sock')}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      '--bind-address=127.0.0.1',
      `--log-error=${join(dir, 'error.log')}`,
      '--innodb-buffer-pool-size=32M',
      '--skip-name-resolve',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const mariadb = (sql: string) =>
    execFileSync('mariadb', ['-h', '127.0.0.1', '-P', String(port), '-u', 'root', '-e', sql], { stdio: 'pipe' });
  await waitFor(async () => {
    mariadb('select 1');
    return true;
  }, 60_000);
  // mariadb-install-db makes anonymous accounts that a TCP login would match before 'user'@'%'.
  mariadb("delete from mysql.global_priv where user = ''; flush privileges");
  return {
    engine: 'mysql',
    url: `mysql://root@127.0.0.1:${port}`,
    port,
    freeze: () => signalTree(child.pid!, 'SIGSTOP'),
    thaw: () => signalTree(child.pid!, 'SIGCONT'),
    async remove() {
      signalTree(child.pid!, 'SIGCONT');
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function uid(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

function gid(user: string): number {
  return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
}
