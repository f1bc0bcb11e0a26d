import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, TenantctlError, errorMessage } from '../core/errors.js';
import { setUserConsoleSink } from '../tenant-schema/user-console.js';
import { registerAdopt } from './commands/adopt.js';
import { registerBackup, registerBackups } from './commands/backup.js';
import { registerCompletion } from './commands/completion.js';
import { registerConfig } from './commands/config.js';
import { registerCreate } from './commands/create.js';
import { registerDelete } from './commands/delete.js';
import { registerDoctor } from './commands/doctor.js';
import { registerExec } from './commands/exec.js';
import { registerSchema } from './commands/schema.js';
import { registerTemplate } from './commands/template.js';
import { registerLog } from './commands/log.js';
import { registerSeed } from './commands/seed.js';
import { registerServer } from './commands/server.js';
import { registerSuspend } from './commands/suspend.js';
import { registerUpdate } from './commands/update.js';
import { registerInit } from './commands/init.js';
import { registerList } from './commands/list.js';
import { registerMigrate } from './commands/migrate.js';
import { registerMigrateStatus } from './commands/migrate-status.js';
import { registerMove } from './commands/move.js';
import { registerQuery } from './commands/query.js';
import { registerRegistry } from './commands/registry.js';
import { registerRestore } from './commands/restore.js';
import { registerRotateKey } from './commands/rotate-key.js';
import { registerRotatePassword } from './commands/rotate-password.js';
import { registerSetup } from './commands/setup.js';
import { registerRuns } from './commands/runs.js';
import { registerShow } from './commands/show.js';
import { registerStats } from './commands/stats.js';
import { registerUrl } from './commands/url.js';
import { reportedExit } from './exit-status.js';
import { JSON_SCHEMA_VERSION } from './render/json-document.js';
import { setProgramHooks } from './action.js';
import type { OperationHooks } from '../context/operation-hooks.js';

/** Command modules declare their options here; their heavy code is imported only when run. */
function buildProgram(): Command {
  const program = new Command('tenantctl')
    .description('Operate SaaS fleets with a database per tenant.')
    .version((createRequire(import.meta.url)('../../package.json') as { version: string }).version)
    .option('--json', 'print only the result, as JSON, on stdout')
    .option('-v, --verbose', 'show stack traces on errors')
    .option('-c, --config <file>', 'config file (default: ./tenantctl.config.json)')
    .addOption(new Option('--home <dir>', 'directory for the embedded registry, SQLite tenants and key'))
    .addOption(new Option('--registry-url <url>', 'registry database URL'))
    .addOption(new Option('--server-url <url>', 'server new tenants are created on'))
    .addOption(new Option('--server-name <name>', "the registry's name for that server"))
    .addOption(new Option('--migrations-dir <dir>', 'tenant schema migrations'))
    .addOption(new Option('--seeds-dir <dir>', 'tenant seeds'))
    .addOption(new Option('--knexfile <path>', "the project's knexfile (default ./knexfile.* if present)"))
    .addOption(
      new Option('--admin-setup <file>', "a .sql file or setup(knex, tenant) module run as the server's admin first"),
    )
    .addOption(
      new Option(
        '--trust-tenant-code',
        "work on tenants without a user of their own (tenantUsers: false) over the admin's session",
      ),
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of [
    registerInit,
    registerCreate,
    registerAdopt,
    registerList,
    registerShow,
    registerUrl,
    registerUpdate,
    registerSuspend,
    registerDelete,
    registerMigrate,
    registerMigrateStatus,
    registerRuns,
    registerBackup,
    registerBackups,
    registerRestore,
    registerRegistry,
    registerRotateKey,
    registerRotatePassword,
    registerSetup,
    registerStats,
    registerDoctor,
    registerLog,
    registerConfig,
    registerServer,
    registerMove,
    registerQuery,
    registerExec,
    registerSchema,
    registerTemplate,
    registerCompletion,
    registerSeed,
  ])
    register(program);
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program)) command.exitOverride();
  return program;
}

/** The error shape every failure prints on stdout under --json. */
function writeJsonError(code: string, message: string, detail?: Record<string, string>): void {
  const error = detail ? { code, message, detail } : { code, message };
  process.stdout.write(`${JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, ok: false, error }, null, 2)}\n`);
}

export interface MainOptions {
  /** Passed to every operation's context (the test harness's kill points); none in normal use. */
  hooks?: OperationHooks;
}

/** The only place that decides exit codes and prints errors. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const program = buildProgram();
  if (options.hooks) setProgramHooks(program, options.hooks);
  // What migrations and seeds print goes to stderr, in every output mode: stdout is the result.
  setUserConsoleSink((text) => process.stderr.write(text));
  const json = argv.includes('--json');
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  try {
    await program.parseAsync(argv);
    // A command that ran and reported failures (e.g. migrate-all with a failed tenant) says so.
    return reportedExit(program);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message on stderr; help and version are not errors.
      if (error.exitCode === 0) return ExitCode.ok;
      if (json) writeJsonError('usage', error.message.replace(/^error: /, ''));
      return ExitCode.usage;
    }
    const known = error instanceof TenantctlError;
    const code = known ? error.exitCode : ExitCode.failed;
    if (json) writeJsonError(known ? error.code : 'internal', errorMessage(error), known ? error.detail : undefined);
    process.stderr.write(`tenantctl: ${errorMessage(error)}\n`);
    if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    else if (!known)
      process.stderr.write(
        '(run with --verbose for details; if this looks like a bug in tenantctl, please report it)\n',
      );
    return code;
  }
}
