import type { Knex } from 'knex';

/** One row per backup attempt, written before the dump starts and completed after it. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenantctl_backups', (t) => {
    t.increments('id');
    // No foreign key: a purged tenant's backups stay listed, by slug.
    t.integer('tenant_id').unsigned();
    t.string('slug', 64).notNullable();
    t.string('status', 16).notNullable();
    t.text('file').notNullable();
    t.bigInteger('bytes');
    t.string('sha256', 64);
    t.string('engine', 16).notNullable();
    t.string('server_version', 255);
    t.string('migration', 255);
    t.string('started_at', 32).notNullable();
    t.string('finished_at', 32);
    t.integer('duration_ms');
    t.text('error');
    t.index(['slug', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tenantctl_backups');
}
