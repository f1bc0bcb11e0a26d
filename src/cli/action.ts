import type { Command } from 'commander';
import type { Config } from '../config/config-keys.js';
import { resolveConfig, type ResolvedConfig } from '../config/resolve-config.js';
// Type-only: the context (knex, drivers) and the output (chalk, ora, cli-table3) are loaded
// when a command runs, so that `--help` and `--version` start fast.
import type { Context } from '../context/context.js';
import type { OperationHooks } from '../context/operation-hooks.js';
import type { Output } from './output.js';
import { ExitCode, type ExitCodeValue } from '../core/errors.js';
import { reportExit } from './exit-status.js';
import { wasCut } from './interrupts.js';

/** After a cut, how long closing the connections may take before the process ends anyway. */
const CLOSE_AFTER_CUT_MS = 1000;

/** The hooks main() was given (the test harness's), by program: every command's context gets them. */
const programHooks = new WeakMap<Command, OperationHooks>();

export function setProgramHooks(program: Command, hooks: OperationHooks): void {
  programHooks.set(program, hooks);
}

function hooksFor(command: Command): OperationHooks | undefined {
  let program = command;
  while (program.parent) program = program.parent;
  return programHooks.get(program);
}

/** Options every command accepts (declared once on the program). */
export interface GlobalOptions {
  config?: string;
  json?: boolean;
  verbose?: boolean;
  home?: string;
  registryUrl?: string;
  serverUrl?: string;
  serverName?: string;
  migrationsDir?: string;
  seedsDir?: string;
  knexfile?: string;
  adminSetup?: string;
  trustTenantCode?: boolean;
  concurrency?: string;
  perServer?: string;
}

export async function outputFor(command: Command): Promise<Output> {
  const opts = command.optsWithGlobals<GlobalOptions>();
  const { Output, loadSpinners } = await import('./output.js');
  const out = new Output(Boolean(opts.json), Boolean(opts.verbose));
  if (out.interactive) await loadSpinners();
  return out;
}

export function configFor(command: Command): ResolvedConfig {
  const opts = command.optsWithGlobals<GlobalOptions>();
  const flags: Partial<Record<keyof Config, string>> = {
    home: opts.home,
    registryUrl: opts.registryUrl,
    serverUrl: opts.serverUrl,
    serverName: opts.serverName,
    migrationsDir: opts.migrationsDir,
    seedsDir: opts.seedsDir,
    knexfile: opts.knexfile,
    adminSetup: opts.adminSetup,
    trustTenantCode: opts.trustTenantCode ? 'true' : undefined,
    concurrency: opts.concurrency,
    perServer: opts.perServer,
  };
  return resolveConfig({ flags, env: process.env, cwd: process.cwd(), configFile: opts.config });
}

/** What a command that changes tenants records in the audit log. */
export interface AuditSpec {
  command: string;
  /** The tenant it is about, if it is about one. */
  tenant?: string | null;
}

/**
 * What a body returns: its exit code when it ran but reports failure (default 0), and how to
 * refine its audit entry (a harmless repeat is `noop`; detail is kept as JSON).
 */
export interface AuditNote {
  /** `dry-run`: the command was asked to change nothing, and did not (logged as such, not `ok`). */
  outcome?: 'ok' | 'noop' | 'dry-run';
  detail?: unknown;
  exitCode?: ExitCodeValue;
}

/**
 * Runs a command body with the resolved configuration, an open context and the output; closes
 * the context whatever happens. With `audit`, the command is recorded in the audit log however it
 * ends. Errors go on to the entry point, which picks the exit code.
 */
export async function withCommandContext(
  command: Command,
  body: (ctx: Context, out: Output) => Promise<void | AuditNote>,
  audit?: AuditSpec,
): Promise<void> {
  const out = await outputFor(command);
  const { config } = configFor(command);
  const { AppContext } = await import('../context/app-context.js');
  const ctx = new AppContext(config, { hooks: hooksFor(command) });
  try {
    const note = await body(ctx, out);
    const exitCode = note?.exitCode ?? ExitCode.ok;
    reportExit(command, exitCode);
    if (audit)
      await writeAudit(ctx, audit, {
        outcome: exitCode !== ExitCode.ok ? 'failed' : (note?.outcome ?? 'ok'),
        detail: note?.detail,
      });
  } catch (error) {
    if (audit)
      await writeAudit(ctx, audit, { outcome: 'failed', error: (error as Error).message }).catch(() => undefined);
    throw error;
  } finally {
    const generated = await ctx.generatedKeyFile();
    if (generated)
      out.notice(
        `Generated a new secret key in ${generated} (mode 0600). Back it up: without it, stored tenant passwords cannot be read.`,
      );
    // A cut command abandoned work that may still hold a connection (a statement waiting on a
    // lock): closing waits for it, so the entry point ends the process after a short grace instead.
    if (wasCut()) await Promise.race([ctx.close(), new Promise((resolve) => setTimeout(resolve, CLOSE_AFTER_CUT_MS))]);
    else await ctx.close();
  }
}

async function writeAudit(
  ctx: Context,
  audit: AuditSpec,
  result: { outcome: 'ok' | 'noop' | 'dry-run' | 'failed'; detail?: unknown; error?: string },
): Promise<void> {
  // A command refused before it opened the registry (bad input, unreachable registry) changed
  // nothing, and opening the registry just to say so would create one: not recorded.
  if (result.outcome === 'failed' && !(await ctx.registryIsOpen())) return;
  const { recordAudit } = await import('../lifecycle/registry/index.js');
  await recordAudit(ctx, { command: audit.command, arguments: process.argv.slice(2), tenant: audit.tenant, ...result });
}
