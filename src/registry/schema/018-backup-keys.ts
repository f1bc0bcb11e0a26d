import type { Knex } from 'knex';

/**
 * Encrypted backups: each record keeps its backup's data key, wrapped (encrypted) by the registry
 * key like any other secret of the registry, and the fingerprint of the key it is wrapped under
 * (null: the registry's current key), so `rotate-key` re-wraps it as it re-encrypts the others.
 * Null for a backup that is not encrypted.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_backups', (t) => {
    t.text('data_key_enc');
    t.string('key_fingerprint', 16);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_backups', (t) => {
    t.dropColumn('data_key_enc');
    t.dropColumn('key_fingerprint');
  });
}
