import type { Knex } from 'knex';
import type { ContentFingerprint, FingerprintDepth } from './content-fingerprint.js';

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
export async function postgresFingerprint(
  knex: Knex,
  depth: FingerprintDepth = 'content',
): Promise<ContentFingerprint> {
  return knex.transaction(async (trx) => {
    await trx.raw("set local timezone = 'UTC'");
    await trx.raw("set local datestyle = 'ISO, YMD'");
    await trx.raw("set local intervalstyle = 'postgres'");
    await trx.raw('set local extra_float_digits = 3');
    await trx.raw("set local bytea_output = 'hex'");
    const listed = await trx.raw(
      "select table_schema as schema, table_name as name from information_schema.tables where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema') order by 1, 2",
    );
    const fingerprint: ContentFingerprint = { tables: {}, sequences: {} };
    for (const t of listed.rows as Array<{ schema: string; name: string }>) {
      const table = `${quote(t.schema)}.${quote(t.name)}`;
      const result = await trx.raw(
        depth === 'rows'
          ? `select count(*) as n, '' as a, '' as b from ${table}`
          : `select count(*) as n, ${half(1)} as a, ${half(17)} as b from (select pg_catalog.md5(pg_catalog.textin(pg_catalog.record_out(r))) as h from ${table} r) s`,
      );
      const row = result.rows[0] as { n: string; a: string; b: string };
      fingerprint.tables[`${t.schema}.${t.name}`] = {
        rows: Number(row.n),
        checksum: depth === 'rows' ? '' : `${row.a}:${row.b}`,
      };
    }
    const sequences = await trx.raw(
      "select schemaname || '.' || sequencename as name, last_value::text as value from pg_catalog.pg_sequences where schemaname not in ('pg_catalog', 'information_schema')",
    );
    for (const s of sequences.rows as Array<{ name: string; value: string | null }>)
      fingerprint.sequences[s.name] = s.value;
    return fingerprint;
  });
}
