import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The newest installed PostgreSQL's binaries (Debian layout). */
function binaries(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b));
  return join('/usr/lib/postgresql', versions.at(-1)!, 'bin');
}

/** Runs a PostgreSQL program as the postgres user (the server refuses to run as root). */
function asPostgres(program: string, args: string[]): void {
  const result = spawnSync('runuser', ['-u', 'postgres', '--', join(binaries(), program), ...args], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`${program} ${args.join(' ')}: ${result.stderr || result.stdout}`);
}

/**
 * A PostgreSQL instance of a test's own, in a temporary directory, on a port of its own: one the
 * test may restart or stop without touching the servers other tests use. Trusts local logins.
 */
export class OwnPostgres {
  readonly directory: string;
  readonly url: string;

  /** `settings`: more server settings, e.g. `['wal_level=logical']` for a source of online moves. */
  constructor(
    readonly port: number,
    readonly settings: string[] = [],
  ) {
    this.directory = mkdtempSync(join(tmpdir(), `tenantctl-own-pg-${port}-`));
    chownSync(this.directory, uidOf('postgres'), gidOf('postgres'));
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  /**
   * `serverOptions`: more of the server's `-c` settings (TLS files…); `hba`: the pg_hba.conf to
   * run with (e.g. `hostssl` lines only) instead of initdb's trust-everything one.
   */
  start(options: { serverOptions?: string; hba?: string } = {}): void {
    asPostgres('initdb', ['-D', join(this.directory, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
    if (options.hba !== undefined) writeFileSync(join(this.directory, 'data', 'pg_hba.conf'), options.hba);
    asPostgres('pg_ctl', [
      '-D',
      join(this.directory, 'data'),
      '-l',
      join(this.directory, 'log'),
      '-o',
      [
        `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.directory} -c fsync=off`,
        ...this.settings.map((s) => `-c ${s}`),
        options.serverOptions ?? '',
      ].join(' '),
      '-w',
      'start',
    ]);
  }

  /**
   * Restarts it as a failover or a crash-restart would: every session ends. (The log file again:
   * otherwise the new server would keep pg_ctl's output open, and this call would never return.)
   */
  restart(): void {
    asPostgres('pg_ctl', [
      '-D',
      join(this.directory, 'data'),
      '-l',
      join(this.directory, 'log'),
      '-m',
      'fast',
      '-w',
      'restart',
    ]);
  }

  /** Stops it and removes its files. */
  destroy(): void {
    try {
      asPostgres('pg_ctl', ['-D', join(this.directory, 'data'), '-m', 'immediate', '-w', 'stop']);
    } catch {
      // not running
    }
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** A URL for one database on it. */
  database(name: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }
}

function idOf(flag: '-u' | '-g', name: string): number {
  const result = spawnSync('id', [flag, name], { encoding: 'utf8' });
  return Number(result.stdout.trim());
}
const uidOf = (name: string) => idOf('-u', name);
const gidOf = (name: string) => idOf('-g', name);
