import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { EnvironmentError } from '../core/errors.js';
import type { DumpTools } from './engine-driver.js';
import { withCredentialFile } from './credential-file.js';
import { inheritedEnv, resolveTool, runTool, type ToolControl } from './run-tool.js';
import type { ServerSpec } from './server-spec.js';

const run = promisify(execFile);

/** A `.pgpass` field: `:` and `\` are escaped with `\`. */
const passField = (value: string) => value.replace(/[\\:]/g, (c) => `\\${c}`);

/**
 * Runs a PostgreSQL tool's invocation with host and user as arguments and the password in a
 * password file of its own (PGPASSFILE, mode 0600 in `credentialDir`, removed afterwards): never on the command
 * line, never in the environment.
 */
async function withToolConnection<T>(
  spec: ServerSpec,
  credentialDir: string,
  fn: (args: string[], env: Record<string, string | undefined>) => Promise<T>,
): Promise<T> {
  const host = spec.host ?? '127.0.0.1';
  const port = String(spec.port ?? 5432);
  const user = spec.user ?? 'postgres';
  const args = ['--host', host, '--port', port, '--username', user, '--no-password'];
  const env = { PGCONNECT_TIMEOUT: '10' };
  if (!spec.password) return fn(args, env);
  // The file serves this one invocation: any host, port and database, this user.
  const line = `*:*:*:${passField(user)}:${passField(spec.password)}`;
  return withCredentialFile(credentialDir, 'pgpass', `${line}\n`, (file) => fn(args, { ...env, PGPASSFILE: file }));
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
 * pg_dump; with `snapshot`, of the snapshot an open transaction exported (pg_export_snapshot).
 */
export async function pgDumpTo(
  spec: ServerSpec,
  pgDump: string,
  credentialDir: string,
  database: string,
  output: Writable,
  snapshot: string | undefined,
  control: ToolControl,
): Promise<void> {
  await withToolConnection(spec, credentialDir, (args, env) =>
    runTool({
      command: pgDump,
      args: [...args, '--format=custom', ...(snapshot ? [`--snapshot=${snapshot}`] : []), '--dbname', database],
      env,
      stdout: output,
      secrets: [spec.password],
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
 * Restores into an existing, empty database in one transaction. Objects are created as `owner`
 * (SET ROLE), without the source's owners and grants, so a clone belongs to its new tenant.
 */
export async function pgRestoreFrom(
  spec: ServerSpec,
  database: string,
  file: string,
  owner: string | null,
  tools: DumpTools,
  control: ToolControl,
): Promise<void> {
  const pgRestore = resolveTool([tools.pgRestore], 'postgresql-client');
  const role = owner ? ['--role', owner] : [];
  await withToolConnection(spec, tools.credentialDir, (args, env) =>
    runTool({
      command: pgRestore,
      args: [
        ...args,
        ...role,
        '--no-owner',
        '--no-privileges',
        '--exit-on-error',
        '--single-transaction',
        '--dbname',
        database,
        file,
      ],
      env,
      secrets: [spec.password],
      ...control,
    }),
  );
}
