import type { Knex } from 'knex';
import { migrationFingerprint } from '../tenant-schema/migration-fingerprint.js';

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
 * the database owner's right to ALTER DATABASE applies whoever runs the migrations.
 */
export async function installStamp(knex: Knex, table: string): Promise<void> {
  await knex.raw(`
    create or replace function tenantctl_stamp_migrations() returns trigger
    language plpgsql security definer set search_path = pg_catalog as $$
    declare stamp text;
    begin
      execute format('${stampSql().replace(/'/g, "''")}', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME) into stamp;
      execute format('comment on database %I is %L', current_database(), '${STAMP_PREFIX}' || stamp);
      return null;
    end $$`);
  await knex.raw(`drop trigger if exists tenantctl_stamp on ${quoteIdent(table)}`);
  await knex.raw(
    `create trigger tenantctl_stamp after insert or update or delete or truncate on ${quoteIdent(table)} for each statement execute function tenantctl_stamp_migrations()`,
  );
  // Record the present state now: the trigger only sees changes from here on.
  await knex.raw(`update ${quoteIdent(table)} set name = name where false`);
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

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
  const match = comment?.startsWith(STAMP_PREFIX)
    ? /^(\d+):([0-9a-f]*):(.*)$/s.exec(comment.slice(STAMP_PREFIX.length))
    : null;
  if (!match) return null;
  return { fingerprint: `${match[1]}:${match[2]}`, count: Number(match[1]), latest: match[3] || null };
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
