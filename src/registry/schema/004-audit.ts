import type { Knex } from 'knex';

/** Who changed which tenant, when, with what command, and how it ended. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenantctl_audit', (t) => {
    t.increments('id');
    t.string('at', 32).notNullable();
    t.string('command', 64).notNullable();
    /** JSON array of the arguments, secrets masked. */
    t.text('arguments').notNullable();
    t.string('os_user', 128).notNullable();
    t.string('host', 255).notNullable();
    t.string('tenant', 64);
    t.string('outcome', 16).notNullable();
    t.text('error');
    t.text('detail');
    t.index(['tenant', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tenantctl_audit');
}
