import type { Context } from '../../context/context.js';
import { UsageError, errorMessage } from '../../core/errors.js';
import { listServerRows, type ServerRow } from '../../registry/servers-repo.js';
import { listTemplateRows } from '../../registry/templates-repo.js';
import { dropTemplateRow, readyTemplate } from './build-template.js';
import { templateKey } from './template-key.js';

/** A template as `template list` shows it. */
export interface TemplateInfo {
  server: string;
  database: string;
  state: 'building' | 'ready';
  migrations: number;
  serverVersion: string;
  buildMs: number | null;
  builtAt: string | null;
  /** Not built for the present migrations, knexfile or server version; null: the server was not reached. */
  stale: boolean | null;
}

async function serversNamed(ctx: Context, names: string[] | undefined): Promise<ServerRow[]> {
  const registry = await ctx.registry();
  const rows = await listServerRows(registry.knex);
  const unknown = (names ?? []).filter((n) => !rows.some((r) => r.name === n));
  if (unknown.length) throw new UsageError(`no server named ${unknown.map((n) => `"${n}"`).join(', ')}`);
  return names?.length ? rows.filter((r) => names.includes(r.name)) : rows;
}

export async function listTemplates(ctx: Context, servers?: string[]): Promise<TemplateInfo[]> {
  const registry = await ctx.registry();
  const infos: TemplateInfo[] = [];
  for (const server of await serversNamed(ctx, servers)) {
    const rows = await listTemplateRows(registry.knex, server.id);
    if (!rows.length) continue;
    const key = await ctx
      .server(server.id)
      .then((handle) => templateKey(ctx, handle))
      .catch(() => null);
    for (const row of rows)
      infos.push({
        server: server.name,
        database: row.database_name,
        state: row.state,
        migrations: row.migrations,
        serverVersion: row.server_version,
        buildMs: row.build_ms,
        builtAt: row.built_at,
        stale: key ? row.template_key !== key.key : null,
      });
  }
  return infos;
}

export interface TemplateBuildOutcome {
  server: string;
  outcome: 'built' | 'current' | 'failed';
  database?: string;
  buildMs?: number;
  dropped?: string[];
  error?: string;
}

/** `template build`: each server's template made current (`rebuild`: built again even when current). */
export async function buildTemplates(
  ctx: Context,
  options: { servers?: string[]; rebuild?: boolean } = {},
): Promise<TemplateBuildOutcome[]> {
  const outcomes: TemplateBuildOutcome[] = [];
  for (const server of await serversNamed(ctx, options.servers)) {
    try {
      const ready = await readyTemplate(ctx, await ctx.server(server.id), { rebuild: options.rebuild });
      outcomes.push({
        server: server.name,
        outcome: ready.built ? 'built' : 'current',
        database: ready.row.database_name,
        ...(ready.built ? { buildMs: ready.row.build_ms ?? 0, dropped: ready.dropped } : {}),
      });
    } catch (error) {
      outcomes.push({ server: server.name, outcome: 'failed', error: errorMessage(error) });
    }
  }
  return outcomes;
}

/** `template drop`: the templates of the servers (only the stale ones with `staleOnly`), database, user and row. */
export async function dropTemplates(
  ctx: Context,
  options: { servers?: string[]; staleOnly?: boolean } = {},
): Promise<string[]> {
  const registry = await ctx.registry();
  const dropped: string[] = [];
  for (const server of await serversNamed(ctx, options.servers)) {
    const rows = await listTemplateRows(registry.knex, server.id);
    if (!rows.length) continue;
    const handle = await ctx.server(server.id);
    const key = options.staleOnly ? await templateKey(ctx, handle) : null;
    for (const row of rows.filter((r) => !key || r.template_key !== key.key)) {
      await dropTemplateRow(ctx, handle, row);
      dropped.push(row.database_name);
    }
  }
  return dropped;
}
