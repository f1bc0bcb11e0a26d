import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { EnvironmentError } from '../core/errors.js';
import type { DumpTools, TenantCredentials } from './engine-driver.js';
import { withCredentialFile } from './credential-file.js';
import { inheritedEnv, resolveTool, runTool, type ToolControl } from './run-tool.js';
import type { ServerSpec } from './server-spec.js';

const run = promisify(execFile);

/** A `.pgpass` field: `:` and `\` are escaped with `\`. */
const passField = (value: string) => value.replace(/[\\:]/g, (c) => `\\${c}`);

/**
 * Runs a PostgreSQL tool's invocation with host and user as arguments and the password in a
 * password file of its own (PGPASSFILE, mode 0600 in `credentialDir`, removed afterwards): never
 * on the command line, never in the environment. It logs in as `login` (a tenant's user), or as
 * the admin where that has no user.
 */
async function withToolConnection<T>(
  spec: ServerSpec,
  login: Pick<TenantCredentials, 'user' | 'password' | 'role'>,
  credentialDir: string,
  fn: (args: string[], env: Record<string, string | undefined>) => Promise<T>,
): Promise<T> {
  const host = spec.host ?? '127.0.0.1';
  const port = String(spec.port ?? 5432);
  const user = login.user ?? spec.user ?? 'postgres';
  const password = login.user ? login.password : spec.password;
  // A lent stand-in takes the tenant's role, so what it creates belongs to the tenant.
  const role = login.user && login.role ? ['--role', login.role] : [];
  const args = ['--host', host, '--port', port, '--username', user, '--no-password', ...role];
  const env = { PGCONNECT_TIMEOUT: '10', ...pgTlsEnv(spec) };
  if (!password) return fn(args, env);
  // The file serves this one invocation: any host, port and database, this user.
  const line = `*:*:*:${passField(user)}:${passField(password)}`;
  return withCredentialFile(credentialDir, 'pgpass', `${line}\n`, (file) => fn(args, { ...env, PGPASSFILE: file }));
}

/**
 * The server's TLS settings as libpq's environment variables (file paths only). Unset settings
 * leave libpq's defaults; a PGSSL… variable tenantctl's own environment has is withheld (run-tool).
 */
export function pgTlsEnv(spec: ServerSpec): Record<string, string> {
  const tls = spec.tls;
  if (!tls) return {};
  return {
    PGSSLMODE: tls.mode,
    ...(tls.ca ? { PGSSLROOTCERT: tls.ca } : {}),
    ...(tls.cert ? { PGSSLCERT: tls.cert } : {}),
    ...(tls.key ? { PGSSLKEY: tls.key } : {}),
  };
}

/** pg_dump must be at least the server's major version: say which client to install if not. */
export async function checkedPgDump(tools: DumpTools, admin: Knex): Promise<string> {
  const pgDump = resolveTool([tools.pgDump], 'postgresql-client (Debian: apt-get install postgresql-client)');
  const { stdout } = await run(pgDump, ['--version'], { env: inheritedEnv() });
  const toolMajor = Number(/(\d+)(?:\.\d+)?/.exec(stdout)?.[1]);
  const result = await admin.raw('show server_version_num');
  const serverMajor = Math.floor(Number(result.rows[0].server_version_num) / 10000);
  if (!(toolMajor >= serverMajor)) {
    throw new EnvironmentError(
      `${pgDump} is version ${toolMajor}, older than the PostgreSQL ${serverMajor} server: install postgresql-client-${serverMajor} (or newer)`,
    );
  }
  return pgDump;
}

/**
 * A custom-format dump (compressed, restorable with pg_restore) streamed to `output`, by a checked
 * pg_dump logged in as `login`; with `snapshot`, of the snapshot an open transaction exported
 * (pg_export_snapshot).
 */
export async function pgDumpTo(
  spec: ServerSpec,
  login: TenantCredentials,
  pgDump: string,
  credentialDir: string,
  output: Writable,
  snapshot: string | undefined,
  control: ToolControl,
  extra: string[] = [],
): Promise<void> {
  await withToolConnection(spec, login, credentialDir, (args, env) =>
    runTool({
      command: pgDump,
      args: [
        ...args,
        '--format=custom',
        ...extra,
        ...(snapshot ? [`--snapshot=${snapshot}`] : []),
        '--dbname',
        login.database,
      ],
      env,
      stdout: output,
      secrets: [spec.password, login.password],
      ...control,
    }),
  );
}

/**
 * pg_restore reads the whole archive and writes the SQL it would run to nowhere: a truncated or
 * corrupt file fails (reading only the table of contents would not notice missing data).
 */
export async function pgCheckDump(file: string, tools: DumpTools): Promise<void> {
  const pgRestore = resolveTool([tools.pgRestore], 'postgresql-client');
  await runTool({ command: pgRestore, args: ['--file', '/dev/null', file] });
}

/**
 * Restores into an existing, empty database in one transaction, logged in as `login` (the
 * tenant's own role: never a superuser that `SET ROLE`s, which the archive's SQL could `RESET`).
 * Objects belong to that role, without the source's owners and grants, so a clone belongs to its
 * new tenant, and anything the archive asks beyond the tenant's own database fails the restore.
 */
export async function pgRestoreFrom(
  spec: ServerSpec,
  login: TenantCredentials,
  file: string,
  tools: DumpTools,
  control: ToolControl,
  presentExtensions: readonly string[] = [],
): Promise<void> {
  const pgRestore = resolveTool([tools.pgRestore], 'postgresql-client');
  const scratch = presentExtensions.length ? mkdtempSync(join(tmpdir(), 'tenantctl-toc-')) : undefined;
  try {
    const list = scratch ? await restoreList(pgRestore, file, scratch, presentExtensions) : [];
    await withToolConnection(spec, login, tools.credentialDir, (args, env) =>
      runTool({
        command: pgRestore,
        args: [
          ...args,
          '--no-owner',
          '--no-privileges',
          '--exit-on-error',
          '--single-transaction',
          ...list,
          '--dbname',
          login.database,
          file,
        ],
        env,
        secrets: [spec.password, login.password],
        ...control,
      }),
    );
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The archive's table of contents without the extensions the target database has already (made
 * by the server's admin, e.g. adminSetup), nor their comments: the tenant's role may not
 * re-create or comment on an extension it does not own, and the admin's stays as it is. Every
 * other entry is restored as before. Returns pg_restore's `--use-list` arguments.
 */
async function restoreList(pgRestore: string, file: string, scratch: string, present: readonly string[]) {
  const listFile = join(scratch, 'toc.list');
  await runTool({ command: pgRestore, args: ['--list', '--file', listFile, file] });
  const names = new Set(present);
  // `<id>; <tableoid> <oid> EXTENSION - <name> [owner]` and `… COMMENT - EXTENSION <name> [owner]`
  const entry = /^\d+; \d+ \d+ (?:EXTENSION -|COMMENT - EXTENSION) (\S+)/;
  const kept = readFileSync(listFile, 'utf8')
    .split('\n')
    .filter((line) => !names.has(entry.exec(line)?.[1] ?? ''));
  writeFileSync(listFile, kept.join('\n'));
  return ['--use-list', listFile];
}
