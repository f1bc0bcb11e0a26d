import type { Knex } from 'knex';

/**
 * Fleet operations (migrate-all, rollback, later backups) are recorded as runs: one row per run,
 * created before the run acts, and one row per tenant outcome.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenantctl_runs', (t) => {
    t.increments('id');
    t.string('kind', 32).notNullable();
    t.string('status', 16).notNullable();
    t.text('options').notNullable();
    t.string('host', 255).notNullable();
    t.integer('pid').notNullable();
    t.integer('total').notNullable().defaultTo(0);
    t.integer('succeeded').notNullable().defaultTo(0);
    t.integer('failed').notNullable().defaultTo(0);
    t.integer('skipped').notNullable().defaultTo(0);
    t.string('started_at', 32).notNullable();
    t.string('finished_at', 32);
    t.index(['kind', 'id']);
  });

  await knex.schema.createTable('tenantctl_run_tenants', (t) => {
    t.increments('id');
    t.integer('run_id').unsigned().notNullable().references('id').inTable('tenantctl_runs').onDelete('CASCADE');
    // No foreign key: a purged tenant's history stays readable, by slug.
    t.integer('tenant_id').unsigned().notNullable();
    t.string('slug', 64).notNullable();
    t.string('outcome', 16).notNullable();
    t.text('detail');
    t.text('error');
    t.integer('duration_ms').notNullable();
    t.string('finished_at', 32).notNullable();
    t.index(['run_id']);
    t.index(['tenant_id', 'run_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tenantctl_run_tenants');
  await knex.schema.dropTable('tenantctl_runs');
}
