import type { Knex } from 'knex';

/**
 * Erasure: each backup of a deleted tenant records when its tenant was deleted, so it is kept
 * `deletedRetentionDays` after that and then erased, even once the tenant's row was purged.
 * Tenants deleted before this keep their delete time (`status_changed_at`); backups whose tenant
 * was purged before this have no delete time left to find, so their clock starts now.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_backups', (t) => {
    t.string('tenant_deleted_at', 32);
  });
  const deleted = (await knex('tenantctl_tenants')
    .where({ status: 'deleted' })
    .select('id', 'status_changed_at')) as Array<{
    id: number;
    status_changed_at: string;
  }>;
  for (const tenant of deleted)
    await knex('tenantctl_backups')
      .where({ tenant_id: tenant.id })
      .update({ tenant_deleted_at: tenant.status_changed_at });
  await knex('tenantctl_backups')
    .whereNotNull('tenant_id')
    .whereNotIn('tenant_id', knex('tenantctl_tenants').select('id'))
    .update({ tenant_deleted_at: new Date().toISOString() });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_backups', (t) => {
    t.dropColumn('tenant_deleted_at');
  });
}
