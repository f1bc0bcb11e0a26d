import type { Knex } from 'knex';

/**
 * Schema templates (README "Templates"): per server, a database migrated once, which `create`
 * clones. `template_key` says which migration state, knexfile and server version it was built
 * for; `state` is `building` from before its database is created until it is complete, then
 * `ready`: a build killed half-way stays `building` and is never cloned, only cleaned up.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenantctl_templates', (t) => {
    t.increments('id');
    t.integer('server_id').unsigned().notNullable().references('id').inTable('tenantctl_servers');
    t.string('template_key', 64).notNullable();
    t.string('state', 16).notNullable();
    t.string('database_name', 128).notNullable().unique();
    t.string('database_user', 128);
    t.string('migration_fingerprint', 64).notNullable();
    t.integer('migrations').notNullable();
    t.string('server_version', 255).notNullable();
    t.text('last_error');
    t.integer('build_ms');
    t.string('created_at', 32).notNullable();
    t.string('built_at', 32);
    t.index(['server_id', 'template_key']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tenantctl_templates');
}
