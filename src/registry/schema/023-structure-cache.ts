import type { Knex } from 'knex';

/**
 * What `schema diff` (and `doctor --schema-drift`) read before, so that a tenant whose catalog
 * has not changed costs one query: per tenant, the digest of its catalog (one query on the
 * server, see DatabaseInspection.structureDigest) and the structure fingerprint read when the
 * catalog had that digest; per fingerprint, the structure itself (JSON), once for every tenant
 * sharing it; per migration state and server (the schema template's key), the fingerprint a fresh
 * tenant gets, so the scratch database is built once per migration state, not once per run.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenantctl_structure_cache', (t) => {
    t.integer('tenant_id').unsigned().primary();
    t.string('digest', 96).notNullable();
    t.string('fingerprint', 64).notNullable();
    t.string('read_at', 32).notNullable();
  });
  await knex.schema.createTable('tenantctl_structures', (t) => {
    t.string('fingerprint', 64).primary();
    t.text('structure', 'longtext').notNullable();
  });
  await knex.schema.createTable('tenantctl_expected_structures', (t) => {
    t.string('state_key', 64).primary();
    t.string('fingerprint', 64).notNullable();
    t.string('read_at', 32).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tenantctl_expected_structures');
  await knex.schema.dropTable('tenantctl_structures');
  await knex.schema.dropTable('tenantctl_structure_cache');
}
