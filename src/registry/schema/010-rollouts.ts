import type { Knex } from 'knex';

/**
 * Staged rollouts: who started a run (the OS user), how many waves it had, why it halted (a run
 * that stopped on its failure budget or a failed canary is `halted`), and each tenant outcome's
 * wave. Existing runs keep nulls: they had one wave, started by someone unrecorded.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_runs', (t) => {
    t.string('started_by', 255);
    t.integer('waves');
    t.text('reason');
  });
  await knex.schema.alterTable('tenantctl_run_tenants', (t) => {
    t.integer('wave');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_run_tenants', (t) => {
    t.dropColumn('wave');
  });
  await knex.schema.alterTable('tenantctl_runs', (t) => {
    t.dropColumn('reason');
    t.dropColumn('waves');
    t.dropColumn('started_by');
  });
}
