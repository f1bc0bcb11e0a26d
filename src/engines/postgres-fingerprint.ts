import type { Knex } from 'knex';
import type { ContentFingerprint } from './content-fingerprint.js';

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** One 64-bit half of each row's MD5 (`h`), summed exactly. */
const half = (from: number) => `coalesce(sum(('x' || substr(h, ${from}, 16))::bit(64)::bigint::numeric), 0)::text`;

/**
 * Row counts, content checksums (see ContentFingerprint) and sequence positions of the database
 * `knex` is connected to (as the tenant: whatever a tenant defined that this reads runs with the
 * tenant's rights only). The row's text form depends on session settings, so they are fixed
 * first: the two servers may be configured differently. It is the built-in record_out, not a
 * `::text` cast, so a cast the tenant defined on its row type does not decide the checksum.
 */
export async function postgresFingerprint(knex: Knex): Promise<ContentFingerprint> {
  return knex.transaction(async (trx) => {
    await trx.raw("set local timezone = 'UTC'");
    await trx.raw("set local datestyle = 'ISO, YMD'");
    await trx.raw("set local intervalstyle = 'postgres'");
    await trx.raw('set local extra_float_digits = 3');
    await trx.raw("set local bytea_output = 'hex'");
    const fingerprint: ContentFingerprint = { tables: {}, sequences: await postgresSequences(trx) };
    for (const t of await postgresTables(trx)) {
      const result = await trx.raw(
        `select count(*) as n, ${half(1)} as a, ${half(17)} as b from (select pg_catalog.md5(pg_catalog.textin(pg_catalog.record_out(r))) as h from ${quote(t.schema)}.${quote(t.name)} r) s`,
      );
      const row = result.rows[0] as { n: string; a: string; b: string };
      fingerprint.tables[`${t.schema}.${t.name}`] = { rows: Number(row.n), checksum: `${row.a}:${row.b}` };
    }
    return fingerprint;
  });
}

/** The tables a fingerprint, a row count and a move's write lock cover: every base table the session sees. */
export async function postgresTables(knex: Knex): Promise<Array<{ schema: string; name: string }>> {
  const listed = await knex.raw(
    "select table_schema as schema, table_name as name from information_schema.tables where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema') order by 1, 2",
  );
  return listed.rows as Array<{ schema: string; name: string }>;
}

/** Every sequence's position, by `schema.name`. */
export async function postgresSequences(knex: Knex): Promise<ContentFingerprint['sequences']> {
  const result = await knex.raw(
    "select schemaname || '.' || sequencename as name, last_value::text as value from pg_catalog.pg_sequences where schemaname not in ('pg_catalog', 'information_schema')",
  );
  return Object.fromEntries(
    (result.rows as Array<{ name: string; value: string | null }>).map((s) => [s.name, s.value]),
  );
}
