import type { Knex } from 'knex';

/**
 * Each backup records the process that runs it (host, pid, start time), so a `running` record
 * whose process is gone can be told from one still at work. Records from before this have no
 * owner: a `running` one among them was left by a killed run (or, at worst, an older tenantctl
 * finishing right now, whose record then ends `failed`), and is cleaned up as interrupted.
 *
 * The embedded registry's lock rows (`tenantctl_locks`) gave way to OS file locks; the table goes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_backups', (t) => {
    t.string('owner_host', 255);
    t.integer('owner_pid');
    t.string('owner_start', 64);
  });
  await knex.schema.dropTableIfExists('tenantctl_locks');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_backups', (t) => {
    t.dropColumn('owner_start');
    t.dropColumn('owner_pid');
    t.dropColumn('owner_host');
  });
}
