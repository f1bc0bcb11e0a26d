import type { Knex } from 'knex';

/**
 * Moves of a tenant's database from one server to another (`tenantctl move`). A move records
 * where it goes and what it created before acting, so a killed move is finished or rolled back
 * from here; a finished move with the source kept (`--keep-source`) is the tenant's retired copy.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenantctl_moves', (t) => {
    t.increments('id');
    t.integer('tenant_id').unsigned().notNullable();
    t.string('slug', 64).notNullable();
    /** running | done | failed | rolled_back */
    t.string('status', 16).notNullable();
    /** The step recorded before it runs: preflight, fence, copy, verify, switch, unfence, retire. */
    t.string('step', 16);
    /** The tenant's status when the move began: active or suspended (suspended stays so). */
    t.string('was_status', 16).notNullable();
    t.integer('source_server_id').unsigned().notNullable();
    t.string('source_database', 128).notNullable();
    t.string('source_user', 128);
    t.integer('target_server_id').unsigned().notNullable();
    t.string('target_database', 128).notNullable();
    t.string('target_user', 128);
    /** The tenant user's new password on the target, encrypted like every tenant password. */
    t.text('password_enc');
    /** The backup the copy was restored from. */
    t.integer('backup_id');
    t.boolean('keep_source').notNullable().defaultTo(false);
    /** kept: the source database and user stay, locked, until `move --drop-source`; dropped. */
    t.string('source_state', 16);
    /** JSON object of step → milliseconds. */
    t.text('durations');
    t.string('started_at', 32).notNullable();
    t.string('fenced_at', 32);
    t.string('unfenced_at', 32);
    t.string('finished_at', 32);
    t.text('error');
    t.index(['slug']);
    t.index(['status']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tenantctl_moves');
}
