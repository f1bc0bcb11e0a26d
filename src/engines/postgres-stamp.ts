import type { Knex } from 'knex';

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

/** The fingerprint of a set of migration names, as the trigger computes it. */
export function fingerprintSql(): string {
  return "count(*) || ':' || coalesce(md5(string_agg(name, E'\\n' order by name collate \"C\")), '')";
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
      execute format('select ${fingerprintSql().replace(/'/g, "''")} from %I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME) into stamp;
      execute format('comment on database %I is %L', current_database(), '${STAMP_PREFIX}' || stamp);
      return null;
    end $$`);
  await knex.raw(`drop trigger if exists tenantctl_stamp on ${quoteIdent(table)}`);
  await knex.raw(`create trigger tenantctl_stamp after insert or update or delete or truncate on ${quoteIdent(table)} for each statement execute function tenantctl_stamp_migrations()`);
  // Record the present state now: the trigger only sees changes from here on.
  await knex.raw(`update ${quoteIdent(table)} set name = name where false`);
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Every named database's fingerprint (null where none was recorded), in one query. */
export async function readStamps(admin: Knex, databases: string[]): Promise<Map<string, string | null>> {
  const result = await admin.raw('select datname, shobj_description(oid, ?) as comment from pg_database where datname = any(?)', ['pg_database', databases]);
  return new Map(
    result.rows.map((row: { datname: string; comment: string | null }) => [
      row.datname,
      row.comment?.startsWith(STAMP_PREFIX) ? row.comment.slice(STAMP_PREFIX.length) : null,
    ]),
  );
}
