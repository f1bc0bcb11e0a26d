import type { Knex } from 'knex';

/**
 * A move's new password for the target is a secret like the tenants' own: it records the key it
 * is encrypted with (null: the registry's current key), so `rotate-key` re-encrypts it too and a
 * move resumed after a rotation can still read it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_moves', (t) => {
    t.string('key_fingerprint', 32);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_moves', (t) => {
    t.dropColumn('key_fingerprint');
  });
}
