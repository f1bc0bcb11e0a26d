import type { Knex } from 'knex';

/**
 * Servers become things operators manage: a status (`active`, `draining` takes no new tenants,
 * `removed` is kept only for the history of deleted tenants), labels for placement, a capacity
 * and weight, their own concurrency limit, and what tenantctl last saw of them.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_servers', (t) => {
    t.string('status', 16).notNullable().defaultTo('active');
    /** JSON object of label → value. */
    t.text('labels');
    t.integer('max_tenants');
    t.integer('weight').notNullable().defaultTo(1);
    t.integer('concurrency');
    t.string('version', 255);
    t.string('checked_at', 32);
  });
  await knex('tenantctl_servers').update({ labels: '{}' });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_servers', (t) => {
    for (const column of ['status', 'labels', 'max_tenants', 'weight', 'concurrency', 'version', 'checked_at'])
      t.dropColumn(column);
  });
}
