import type { Knex } from 'knex';

/**
 * The values of the metadata keys the operator marks as indexed (`indexedMetadata`): one row per
 * tenant and key, the primary key making each value unique per key, so that an application finds
 * a tenant by its domain in one indexed read. Rows are written from the configured keys (see
 * metadata-index-repo.ts); existing tenants are indexed when a key is first configured.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenantctl_metadata_index', (t) => {
    t.string('key', 64).notNullable();
    t.string('value', 255).notNullable();
    t.integer('tenant_id').unsigned().notNullable().references('id').inTable('tenantctl_tenants').onDelete('CASCADE');
    t.primary(['key', 'value']);
    t.index(['tenant_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tenantctl_metadata_index');
}
