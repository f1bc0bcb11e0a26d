import type { Knex } from 'knex';

/**
 * Timestamps are ISO-8601 strings in UTC: they sort as text and read back identically on every
 * engine, where native timestamp types do not.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenantctl_settings', (t) => {
    t.string('key', 64).primary();
    t.text('value').notNullable();
  });

  await knex.schema.createTable('tenantctl_servers', (t) => {
    t.increments('id');
    t.string('name', 128).notNullable().unique();
    t.string('engine', 16).notNullable();
    t.string('host', 255);
    t.integer('port');
    t.string('admin_user', 128);
    t.text('admin_password_enc');
    t.string('admin_database', 128);
    t.string('user_host', 255);
    t.text('path');
    t.string('created_at', 32).notNullable();
    t.string('updated_at', 32).notNullable();
  });

  await knex.schema.createTable('tenantctl_tenants', (t) => {
    t.increments('id');
    t.string('slug', 64).notNullable().unique();
    t.string('name', 255).notNullable();
    t.string('status', 16).notNullable();
    t.string('step', 32);
    t.integer('server_id').unsigned().notNullable().references('id').inTable('tenantctl_servers');
    t.string('database_name', 128).notNullable();
    t.string('database_user', 128);
    t.text('password_enc');
    t.string('plan', 64);
    t.text('metadata').notNullable();
    t.text('last_error');
    t.string('status_reason', 1000);
    t.string('status_changed_at', 32).notNullable();
    t.string('created_at', 32).notNullable();
    t.string('updated_at', 32).notNullable();
    t.unique(['server_id', 'database_name']);
    t.index(['status']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tenantctl_tenants');
  await knex.schema.dropTable('tenantctl_servers');
  await knex.schema.dropTable('tenantctl_settings');
}
