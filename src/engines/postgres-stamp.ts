import type { Knex } from 'knex';
import { migrationFingerprint } from '../tenant-schema/migration-fingerprint.js';
import { OWNER_PREFIX, markIn } from './ownership-mark.js';

/**
 * A fingerprint of each tenant's applied migrations that PostgreSQL keeps where any database can
 * read it: the tenant database's comment (`tenantctl:migrations=<count>:<md5 of sorted names>`,
 * in the shared catalog pg_shdescription). A statement trigger on the migration table rewrites
 * it in the same transaction as every change, whoever makes it (tenantctl, the knex CLI, a
 * hand-written DELETE), so an up-to-date fleet is found with one query instead of a connection
 * per database. (A database-level setting would need superuser rights for a custom parameter;
 * a comment needs only ownership, which the tenant's role has.)
 */
export const STAMP_PREFIX = 'tenantctl:migrations=';

/**
 * `<count>:<md5 of the sorted names>` (see migrationFingerprint), then `:<latest name>` so that
 * `stats` can report the latest migration without opening the database. The first %I.%I is the
 * migration table (twice).
 */
function stampSql(): string {
  return "select count(*) || ':' || coalesce(md5(string_agg(name, E'\\n' order by name collate \"C\")), '') || ':' || coalesce((select name from %I.%I order by id desc limit 1), '') from %I.%I";
}

/**
 * Installs (or refreshes) the trigger and records the current fingerprint. SECURITY DEFINER, so
 * the database owner's right to ALTER DATABASE applies whoever runs the migrations. `target` is
 * the migrations table as SQL names it (quoted, schema-qualified where the knexfile gives one).
 */
export async function installStamp(knex: Knex, target: string): Promise<void> {
  await knex.raw(`
    create or replace function tenantctl_stamp_migrations() returns trigger
    language plpgsql security definer set search_path = pg_catalog as $$
    declare stamp text; owner text;
    begin
      execute format('${stampSql().replace(/'/g, "''")}', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME) into stamp;
      -- The registry's ownership mark (ownership-mark.ts) stays in front of the stamp.
      select substring(pg_catalog.shobj_description(d.oid, 'pg_database') from '^${OWNER_PREFIX}[0-9a-f]{32}') into owner
        from pg_catalog.pg_database d where d.datname = current_database();
      execute format('comment on database %I is %L', current_database(), coalesce(owner || ' ', '') || '${STAMP_PREFIX}' || stamp);
      return null;
    end $$`);
  await knex.raw(`drop trigger if exists tenantctl_stamp on ${target}`);
  await knex.raw(
    `create trigger tenantctl_stamp after insert or update or delete or truncate on ${target} for each statement execute function tenantctl_stamp_migrations()`,
  );
  // Record the present state now: the trigger only sees changes from here on.
  await knex.raw(`update ${target} set name = name where false`);
}

export interface Stamp {
  /** `<count>:<md5>`, comparable with migrationFingerprint(). */
  fingerprint: string;
  count: number;
  latest: string | null;
}

/** Every named database's stamp (null where none was recorded), in one query. */
export async function readStamps(admin: Knex, databases: string[]): Promise<Map<string, Stamp | null>> {
  const result = await admin.raw(
    'select datname, pg_catalog.shobj_description(oid, ?) as comment from pg_catalog.pg_database where datname = any(?)',
    ['pg_database', databases],
  );
  return new Map(
    result.rows.map((row: { datname: string; comment: string | null }) => [row.datname, parseStamp(row.comment)]),
  );
}

/** Reads a database comment written by the trigger; null for any other comment. */
export function parseStamp(comment: string | null): Stamp | null {
  // After the ownership mark, when there is one (`tenantctl:owner=<mark> tenantctl:migrations=…`).
  const at = comment ? stampStart(comment) : -1;
  const match = at >= 0 ? /^(\d+):([0-9a-f]*):(.*)$/s.exec(comment!.slice(at + STAMP_PREFIX.length)) : null;
  if (!match) return null;
  return { fingerprint: `${match[1]}:${match[2]}`, count: Number(match[1]), latest: match[3] || null };
}

/** Where the stamp starts in a database comment: at its start, or after the ownership mark; -1 if nowhere. */
export function stampStart(comment: string): number {
  if (comment.startsWith(STAMP_PREFIX)) return 0;
  const owner = new RegExp(`^${OWNER_PREFIX}[0-9a-f]{32} `).exec(comment);
  return owner && comment.startsWith(STAMP_PREFIX, owner[0].length) ? owner[0].length : -1;
}

/**
 * Marks a database as the registry's (ownership-mark.ts) in its comment, keeping the stamp that
 * follows. Only the database's owner or a superuser may comment on it: the admin marks a database
 * it has just created, before it gives it to the tenant's role.
 */
export async function writeOwnerMark(admin: Knex, database: string, mark: string): Promise<void> {
  const comment = await readComment(admin, database);
  if (markIn(comment) === mark) return;
  const at = comment ? stampStart(comment) : -1;
  const text = `${OWNER_PREFIX}${mark}${at >= 0 ? ` ${comment!.slice(at)}` : ''}`;
  // COMMENT takes no bind parameters: format() quotes both.
  const sql = await admin.raw('select format(?, ?::text, ?::text) as sql', [
    'comment on database %I is %L',
    database,
    text,
  ]);
  await admin.raw(sql.rows[0].sql);
}

/**
 * Removes the mark and the stamp from a database's comment. Both are tenantctl's whole comment
 * (writeOwnerMark and the trigger write nothing else), so the comment goes.
 */
export async function clearOwnerMark(admin: Knex, database: string): Promise<void> {
  const comment = await readComment(admin, database);
  if (comment === null || (markIn(comment) === null && parseStamp(comment) === null)) return;
  const sql = await admin.raw('select format(?, ?::text) as sql', ['comment on database %I is null', database]);
  await admin.raw(sql.rows[0].sql);
}

/**
 * Drops the stamp's trigger function wherever the tenant's search_path put it, and with it (CASCADE)
 * the trigger on the migration table. Only trigger functions of that name: only triggers can
 * depend on one, so the cascade reaches nothing of the tenant's (a same-named function of another
 * type, used by a column default say, is left alone). Run in the database by the admin, over the
 * catalog; dropping runs no code of the tenant's.
 */
export async function dropStamp(knex: Knex): Promise<void> {
  const found = await knex.raw(
    "select p.oid::pg_catalog.regprocedure::text as name from pg_catalog.pg_proc p where p.proname = 'tenantctl_stamp_migrations' and p.pronargs = 0 and p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype",
  );
  for (const { name } of found.rows as Array<{ name: string }>)
    await knex.raw(`drop function if exists ${name} cascade`);
}

/** Every named database's ownership mark (null where none), in one query. */
export async function readOwnerMarks(admin: Knex, databases: string[]): Promise<Map<string, string | null>> {
  const result = await admin.raw(
    'select datname, pg_catalog.shobj_description(oid, ?) as comment from pg_catalog.pg_database where datname = any(?)',
    ['pg_database', databases],
  );
  return new Map(
    result.rows.map((row: { datname: string; comment: string | null }) => [row.datname, markIn(row.comment)]),
  );
}

async function readComment(admin: Knex, database: string): Promise<string | null> {
  const result = await admin.raw(
    'select pg_catalog.shobj_description(oid, ?) as comment from pg_catalog.pg_database where datname = ?',
    ['pg_database', database],
  );
  return (result.rows[0]?.comment as string | null | undefined) ?? null;
}

/**
 * The applied migrations a stamp proves without reading the table: when they are the first
 * `count` available migrations (the usual case), those; otherwise undefined (read the table).
 */
export function appliedFromStamp(stamp: Stamp | null, available: string[]): string[] | undefined {
  if (!stamp || stamp.count > available.length) return undefined;
  const prefix = available.slice(0, stamp.count);
  return migrationFingerprint(prefix) === stamp.fingerprint ? prefix : undefined;
}
