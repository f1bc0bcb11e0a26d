import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { EnvironmentError } from '../core/errors.js';
import type { DumpTools } from './engine-driver.js';
import { resolveTool, runTool } from './run-tool.js';
import type { ServerSpec } from './server-spec.js';

const run = promisify(execFile);

/** Connection for the PostgreSQL tools: host and user as arguments, the password only in the environment. */
function toolConnection(spec: ServerSpec): { args: string[]; env: Record<string, string | undefined> } {
  return {
    args: ['--host', spec.host ?? '127.0.0.1', '--port', String(spec.port ?? 5432), '--username', spec.user ?? 'postgres', '--no-password'],
    env: { PGPASSWORD: spec.password, PGCONNECT_TIMEOUT: '10' },
  };
}

/** pg_dump must be at least the server's major version: say which client to install if not. */
export async function checkedPgDump(tools: DumpTools, admin: Knex): Promise<string> {
  const pgDump = resolveTool([tools.pgDump], 'postgresql-client (Debian: apt-get install postgresql-client)');
  const { stdout } = await run(pgDump, ['--version']);
  const toolMajor = Number(/(\d+)(?:\.\d+)?/.exec(stdout)?.[1]);
  const result = await admin.raw('show server_version_num');
  const serverMajor = Math.floor(Number(result.rows[0].server_version_num) / 10000);
  if (!(toolMajor >= serverMajor)) {
    throw new EnvironmentError(`${pgDump} is version ${toolMajor}, older than the PostgreSQL ${serverMajor} server: install postgresql-client-${serverMajor} (or newer)`);
  }
  return pgDump;
}

/** A custom-format dump (compressed, restorable with pg_restore) streamed to `output`, by a checked pg_dump. */
export async function pgDumpTo(spec: ServerSpec, pgDump: string, database: string, output: Writable): Promise<void> {
  const { args, env } = toolConnection(spec);
  await runTool({ command: pgDump, args: [...args, '--format=custom', '--dbname', database], env, stdout: output, secrets: [spec.password] });
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
 * Restores into an existing, empty database in one transaction. Objects are created as `owner`
 * (SET ROLE), without the source's owners and grants, so a clone belongs to its new tenant.
 */
export async function pgRestoreFrom(spec: ServerSpec, database: string, file: string, owner: string | null, tools: DumpTools): Promise<void> {
  const pgRestore = resolveTool([tools.pgRestore], 'postgresql-client');
  const { args, env } = toolConnection(spec);
  const role = owner ? ['--role', owner] : [];
  await runTool({
    command: pgRestore,
    args: [...args, ...role, '--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', '--dbname', database, file],
    env,
    secrets: [spec.password],
  });
}
