import { renameSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import { assertNamedTenantReached } from '../../core/fleet-run.js';
import type { StatsSort } from '../../lifecycle/tenants/index.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { interruptible } from '../interrupts.js';
import { addTenantFilters, PER_SERVER_HELP } from '../options.js';
import { jsonDocument } from '../render/json-document.js';
import { renderOutages } from '../render/outages.js';
import { formatBytes } from '../../core/format-bytes.js';

interface StatsFlags {
  exact?: boolean;
  tables?: boolean;
  sort?: string;
  format?: string;
  output?: string;
  status?: TenantStatus[];
  plan?: string[];
  server?: string[];
}

const MAX_ROWS = 50;

function age(seconds: number): string {
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

export function registerStats(program: Command): void {
  addTenantFilters(
    program
      .command('stats')
      .description('size, tables, rows, migrations, connections and last backup, per tenant and for the fleet')
      .argument('[slug]', 'one tenant only')
      .option(
        '--tables',
        'read every table where that costs more: a connection per database on PostgreSQL, every table opened on MySQL/MariaDB (write times)',
      )
      .option('--exact', "count rows exactly (default: the engine's estimate); implies --tables")
      .option('--sort <key>', 'size, rows or name (default name)')
      .option('--format <format>', 'table (default), json, or prometheus (node_exporter textfile)')
      .option('--output <file>', 'write to this file instead of stdout, atomically (for the textfile collector)'),
    { tenants: false },
  )
    .option('--per-server <n>', PER_SERVER_HELP)
    .action(async (slug: string | undefined, flags: StatsFlags, command: Command) => {
      const sort = flags.sort ?? 'name';
      if (!['size', 'rows', 'name'].includes(sort))
        throw new UsageError(`--sort must be size, rows or name (got "${sort}")`);
      const format = flags.format ?? (command.optsWithGlobals().json ? 'json' : 'table');
      if (!['table', 'json', 'prometheus'].includes(format))
        throw new UsageError(`--format must be table, json or prometheus (got "${format}")`);
      const { tenantStats } = await import('../../lifecycle/tenants/index.js');
      const { toPrometheus } = await import('../render/prometheus.js');
      await withCommandContext(command, async (ctx, out) => {
        const result = await interruptible(
          (message) => out.warn(message),
          (interrupt) =>
            tenantStats(
              ctx,
              { slugs: slug ? [slug] : undefined, statuses: flags.status, plans: flags.plan, servers: flags.server },
              { exact: flags.exact, tables: flags.tables, sort: sort as StatsSort, interrupt },
            ),
          'servers',
        );
        // One named tenant whose server is down: one line on stderr and exit 5, as for every one-tenant command.
        assertNamedTenantReached(result, Boolean(slug));
        const text =
          format === 'prometheus'
            ? toPrometheus(result)
            : format === 'json'
              ? `${JSON.stringify(jsonDocument(result), null, 2)}\n`
              : `${renderTable(out, result, Boolean(slug))}\n`;
        if (flags.output && result.interrupted) {
          // A collector keeps the last whole picture rather than one cut short.
          out.warn(`tenantctl: interrupted (${result.interrupted}): ${flags.output} left as it was`);
        } else if (flags.output) {
          // Written beside the target and renamed: a collector never reads half a file.
          const temporary = `${flags.output}.tmp-${process.pid}`;
          writeFileSync(temporary, text);
          renameSync(temporary, flags.output);
        } else process.stdout.write(text);
        if (result.interrupted) return { exitCode: ExitCode.interrupted };
        // Numbers from part of the fleet only: incomplete (one named tenant: unreachable, exit 5);
        // a tampered migration table is a problem to look at.
        if (result.unreachableServers.length || result.totals.tampered || result.totals.denied)
          return { exitCode: ExitCode.failed };
      });
    });
}

function renderTable(
  out: import('../output.js').Output,
  result: import('../../lifecycle/tenants/index.js').StatsResult,
  single: boolean,
): string {
  const shown = single ? result.tenants : result.tenants.slice(0, MAX_ROWS);
  const lines = [
    out.table(
      ['tenant', 'status', 'server', 'size', 'tables', 'rows', 'migration', 'pending', 'conns', 'last backup'],
      shown.map((t) => [
        t.slug,
        out.status(t.status),
        t.server,
        !t.reachable || t.missingPrivilege
          ? out.color.red('unknown')
          : t.sizeBytes === null
            ? out.color.red('missing')
            : formatBytes(t.sizeBytes),
        t.tables,
        t.rows === null ? null : `${t.rowsExact ? '' : '~'}${t.rows}`,
        t.migration,
        t.pendingMigrations ? out.color.yellow(String(t.pendingMigrations)) : t.pendingMigrations,
        t.connections,
        t.lastBackup ? `${age(t.lastBackup.ageSeconds)} ago` : out.color.yellow('never'),
      ]),
    ),
  ];
  if (result.tenants.length > shown.length)
    lines.push(
      out.color.dim(`… and ${result.tenants.length - shown.length} more (--json or --format prometheus for all)`),
    );
  // One tenant: when it was last used, where its engine can tell (see README, stats).
  if (single)
    for (const tenant of result.tenants)
      lines.push(`last activity: ${tenant.lastActivity ?? out.color.dim('unknown (the engine cannot tell now)')}`);
  for (const tenant of result.tenants.filter((x) => x.error)) lines.push(out.color.red(`✖ ${tenant.error}`));
  lines.push(...renderOutages(out, result.unreachableServers, 'unknown'));
  const t = result.totals;
  const counted = result.tenants.some((tenant) => tenant.tables !== null);
  const tablesAndRows = counted ? `${t.tables} tables · ${t.rows} rows` : 'tables and rows: --tables';
  lines.push(
    `${t.tenants} tenants · ${formatBytes(t.sizeBytes)} · ${tablesAndRows} · ${t.connections} connections · ${t.withPendingMigrations} with pending migrations · ${t.withoutBackup} never backed up`,
  );
  if (!single && result.largest.length)
    lines.push(`largest: ${result.largest.map((l) => `${l.slug} (${formatBytes(l.sizeBytes)})`).join(', ')}`);
  return lines.join('\n');
}
