import type { Knex } from 'knex';

/**
 * The scheduled jobs (MySQL/MariaDB events) a suspend disabled, as a JSON array of names, so that
 * reactivate enables exactly those and not the ones the tenant had disabled itself. Recorded
 * before they are disabled; null when the tenant is not suspended or has none.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_tenants', (t) => {
    t.text('suspended_jobs');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_tenants', (t) => {
    t.dropColumn('suspended_jobs');
  });
}
