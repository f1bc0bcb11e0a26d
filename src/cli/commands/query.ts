import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDuration } from '../../core/duration.js';
import { ExitCode, UsageError, errorMessage } from '../../core/errors.js';
import { assertNamedTenantReached } from '../../core/fleet-run.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { interruptible } from '../interrupts.js';
import { addTenantFilters, collectKeyValue, PER_SERVER_HELP } from '../options.js';
import { progressLine } from '../render/fleet-progress.js';
import { QUERY_FORMATS, type QueryFormat } from '../render/query-rows.js';

interface QueryFlags {
  all?: boolean;
  tenants?: string[];
  status?: TenantStatus[];
  plan?: string[];
  server?: string[];
  format?: string;
  aggregate?: string;
  param?: Record<string, string>;
  sqlFile?: string;
  timeout?: string;
}

export function registerQuery(program: Command): void {
  addTenantFilters(
    program
      .command('query')
      .description('run one read-only statement on every selected tenant database, as each tenant, and print the rows')
      .argument('[sql]', 'the statement (or --sql-file)')
      .argument('[slugs...]', 'only these tenants')
      .option('--all', 'every tenant (active and suspended)')
      .option('--sql-file <file>', 'read the statement from this file (then every argument is a slug)')
      .option('--param <key=value>', 'a named binding, :key in the statement; repeatable', collectKeyValue)
      .option('--format <format>', `${QUERY_FORMATS.join(', ')} (default table)`)
      .option('--aggregate <column>', 'also sum, min and max of this numeric column over the fleet')
      .option('--timeout <duration>', 'longest one tenant may take to answer (default 30s)'),
  )
    .option('--concurrency <n>', 'tenants read at once (default 4, or TENANTCTL_CONCURRENCY)')
    .option('--per-server <n>', PER_SERVER_HELP)
    .action(async (sqlArg: string | undefined, rest: string[], flags: QueryFlags, command: Command) => {
      const { sql, slugs } = statementAndSlugs(sqlArg, rest, flags.sqlFile);
      const both = [...(slugs ?? []), ...(flags.tenants ?? [])];
      const named = both.length ? [...new Set(both)] : undefined;
      if (!flags.all && !named?.length && !flags.status && !flags.plan && !flags.server)
        throw new UsageError('query: name tenants, filter them (--plan, --server, --status), or pass --all');
      const format = (flags.format ?? (command.optsWithGlobals().json ? 'json' : 'table')) as QueryFormat;
      if (!QUERY_FORMATS.includes(format))
        throw new UsageError(`--format must be ${QUERY_FORMATS.join(', ')} (got "${flags.format}")`);
      const timeoutMs = flags.timeout === undefined ? undefined : parseDuration(flags.timeout, '--timeout');
      const { queryFleet, assertSingleRead } = await import('../../lifecycle/query/index.js');
      // Refused before any server or the registry is opened.
      assertSingleRead(sql);
      const { writerFor, renderQuerySummary, progressOnStderr } = await import('../render/query-summary.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          const writer = writerFor(format, out);
          const progress = progressOnStderr(out);
          const result = await interruptible(
            (message) => out.warn(message),
            (interrupt) =>
              queryFleet(
                ctx,
                { slugs: named, statuses: flags.status, plans: flags.plan, servers: flags.server },
                {
                  sql,
                  params: flags.param,
                  timeoutMs,
                  concurrency: ctx.config.concurrency,
                  aggregate: flags.aggregate,
                  interrupt,
                  onRows: (rows) => progress.around(() => writer.tenant(rows)),
                },
                (p) => progress.set(progressLine(p, { timed: true })),
              ),
          ).finally(() => progress.done());
          assertNamedTenantReached(result, named?.length === 1);
          await writer.end(result);
          const summary = renderQuerySummary(out, result, format);
          if (summary) (format === 'table' ? process.stdout : process.stderr).write(`${summary}\n`);
          const exitCode = result.interrupted ? ExitCode.interrupted : result.ok ? ExitCode.ok : ExitCode.failed;
          return { detail: { counts: result.counts, rows: result.rowCount }, exitCode };
        },
        { command: 'query', tenant: named?.length === 1 ? named[0] : null },
      );
    });
}

/** The statement (the first argument, or the file's) and the slugs named after it. */
function statementAndSlugs(
  sqlArg: string | undefined,
  rest: string[],
  sqlFile: string | undefined,
): { sql: string; slugs: string[] | undefined } {
  if (sqlFile) {
    let sql: string;
    try {
      sql = readFileSync(sqlFile, 'utf8');
    } catch (error) {
      throw new UsageError(`--sql-file ${sqlFile}: ${errorMessage(error)}`);
    }
    const slugs = [...(sqlArg === undefined ? [] : [sqlArg]), ...rest];
    return { sql, slugs: slugs.length ? slugs : undefined };
  }
  if (sqlArg === undefined) throw new UsageError('query: give the statement, or --sql-file <file>');
  return { sql: sqlArg, slugs: rest.length ? rest : undefined };
}
