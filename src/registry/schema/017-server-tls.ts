import type { Knex } from 'knex';

/**
 * Each server's TLS settings (mode and the paths of its CA, certificate and key files, never
 * their contents), as JSON; null: plain connections, as every server had before.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_servers', (t) => {
    t.text('tls');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_servers', (t) => {
    t.dropColumn('tls');
  });
}
