import type { Knex } from 'knex';

/**
 * Secrets over time. Per row, the fingerprint of the key its secrets are encrypted with (null:
 * the registry's current key), so a key rotation killed half-way knows which rows it has done;
 * a tenant's password being rotated to (recorded before the server changes, so the next run can
 * finish it); and when the password last changed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_tenants', (t) => {
    t.string('key_fingerprint', 32);
    t.text('password_pending_enc');
    t.string('password_changed_at', 32);
  });
  await knex.schema.alterTable('tenantctl_servers', (t) => {
    t.string('key_fingerprint', 32);
  });
  // Existing passwords were set when their tenant was created.
  await knex('tenantctl_tenants')
    .whereNotNull('password_enc')
    .update({ password_changed_at: knex.ref('created_at') });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_servers', (t) => {
    t.dropColumn('key_fingerprint');
  });
  await knex.schema.alterTable('tenantctl_tenants', (t) => {
    t.dropColumn('password_changed_at');
    t.dropColumn('password_pending_enc');
    t.dropColumn('key_fingerprint');
  });
}
