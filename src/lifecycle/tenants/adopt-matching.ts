import type { Context } from '../../context/context.js';
import { UsageError, errorMessage, TenantctlError } from '../../core/errors.js';
import { slugRuleOf, validateSlug } from '../../core/slug.js';
import { listTenantRows } from '../../registry/tenants-repo.js';
import { adoptTenant, isTenantctlDatabase, type AdoptTenantInput, type AdoptTenantResult } from './adopt-tenant.js';

export interface AdoptMatchingInput extends Omit<AdoptTenantInput, 'slug' | 'database' | 'user' | 'password' | 'name'> {
  /** A LIKE pattern over database names: `%` any run of characters, `_` any one. */
  match: string;
  /**
   * A regular expression with a group: the group's text is the slug (default: the naming
   * template read backwards, else the name).
   */
  slugFrom?: string;
  /** List what would be adopted; adopt nothing. */
  dryRun?: boolean;
}

export interface AdoptCandidate {
  database: string;
  slug: string | null;
  /** Why it is not adopted (already a tenant's, another registry's mark, no slug), or null. */
  skipped: string | null;
}

export interface AdoptMatchingResult {
  server: string;
  candidates: AdoptCandidate[];
  dryRun: boolean;
  adopted: AdoptTenantResult[];
  failed: Array<{ database: string; slug: string; error: string; exitCode: number }>;
}

/**
 * `adopt --match`: every database on one server whose name matches, each adopted as
 * `adoptTenant` adopts one (one after another: each is its own recorded, resumable adopt), the
 * ones that cannot be (registered already, another registry's, no valid slug) listed as skipped.
 */
export async function adoptMatching(
  ctx: Context,
  input: AdoptMatchingInput,
  onTenant: (database: string, slug: string) => void = () => {},
): Promise<AdoptMatchingResult> {
  if (!input.match) throw new UsageError('adopt: --match needs a pattern');
  const like = likePattern(input.match);
  const slugFrom = input.slugFrom === undefined ? undefined : slugExpression(input.slugFrom);
  const server = input.server ? await ctx.serverByName(input.server) : await ctx.defaultServer();
  const registry = await ctx.registry();
  const driver = server.connection.driver;
  const databases = (await server.connection.listDatabases()).filter(
    (d) => like.test(d) && !driver.isReservedName(d) && !isTenantctlDatabase(ctx, d),
  );
  const registered = new Map(
    (await listTenantRows(registry.knex))
      .filter((t) => t.server_id === server.row.id)
      .map((t) => [t.database_name, t.slug] as const),
  );
  const marks = await server.connection.readMarks(databases);
  const ours = await registry.mark();
  const taken = new Set<string>();
  const candidates = databases.map((database): AdoptCandidate => {
    const slug = slugFor(ctx, database, slugFrom);
    const tenant = registered.get(database);
    const mark = marks.get(database) ?? null;
    let skipped: string | null = null;
    if (tenant) skipped = `already tenant "${tenant}"`;
    else if (mark !== null && mark !== ours) skipped = "carries another registry's ownership mark";
    else if (!slug) skipped = 'no valid slug from its name (see --slug-from)';
    else if (taken.has(slug)) skipped = `slug "${slug}" is another match's too`;
    if (slug) taken.add(slug);
    return { database, slug, skipped };
  });
  const result: AdoptMatchingResult = {
    server: server.row.name,
    candidates,
    dryRun: Boolean(input.dryRun),
    adopted: [],
    failed: [],
  };
  if (input.dryRun) return result;
  for (const c of candidates.filter((c) => !c.skipped)) {
    onTenant(c.database, c.slug!);
    try {
      result.adopted.push(
        await adoptTenant(ctx, { ...input, server: server.row.name, database: c.database, slug: c.slug! }),
      );
    } catch (error) {
      const exitCode = error instanceof TenantctlError ? error.exitCode : 1;
      result.failed.push({ database: c.database, slug: c.slug!, error: errorMessage(error), exitCode });
    }
  }
  return result;
}

/** A LIKE pattern as a regular expression, matched on the whole name. */
function likePattern(pattern: string): RegExp {
  const body = [...pattern]
    .map((ch) => (ch === '%' ? '.*' : ch === '_' ? '.' : ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 's');
}

function slugExpression(source: string): RegExp {
  let expression: RegExp;
  try {
    expression = new RegExp(source);
  } catch (error) {
    throw new UsageError(`adopt: --slug-from is not a regular expression: ${errorMessage(error)}`);
  }
  if (new RegExp(`${source}|`).exec('')!.length < 2)
    throw new UsageError('adopt: --slug-from needs a group, e.g. --slug-from "^finvera_(.+)$"');
  return expression;
}

/** The slug a database is adopted under, or null when none is valid. */
function slugFor(ctx: Context, database: string, slugFrom: RegExp | undefined): string | null {
  let candidate: string | undefined;
  if (slugFrom) candidate = slugFrom.exec(database)?.[1];
  else {
    // The naming template read backwards (`tenant_{slug}` → what `{slug}` stands for), else the name itself.
    const [before, after] = ctx.config.databaseNameTemplate.split('{slug}') as [string, string];
    candidate =
      database.startsWith(before) && database.endsWith(after) && database.length > before.length + after.length
        ? database.slice(before.length, database.length - after.length)
        : database;
  }
  if (!candidate) return null;
  try {
    return validateSlug(candidate.toLowerCase(), slugRuleOf(ctx.config));
  } catch {
    return null;
  }
}
