import type { Knex } from 'knex';

/**
 * State kept in columns rather than text: the status a tenant returns to after a `delete` or
 * `restore` that is under way (`previous_status`, formerly only in `status_reason` as "was …"),
 * and each table's exact row count when a backup was taken (`row_counts`, JSON), which
 * `backup verify --restore-test` compares the restored copy with.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_tenants', (t) => {
    t.string('previous_status', 16);
  });
  await knex.schema.alterTable('tenantctl_backups', (t) => {
    t.text('row_counts');
  });
  // Operations under way recorded where to return only in their reason text: read it once, here.
  const rows = (await knex('tenantctl_tenants')
    .where((q) => {
      q.where('status', 'deleting').orWhere('step', 'restore');
    })
    .select('id', 'status_reason')) as Array<{ id: number; status_reason: string | null }>;
  for (const row of rows) {
    const was = /\bwas (active|suspended|failed|provisioning)\b/.exec(row.status_reason ?? '')?.[1] ?? 'suspended';
    await knex('tenantctl_tenants').where({ id: row.id }).update({ previous_status: was });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_backups', (t) => {
    t.dropColumn('row_counts');
  });
  await knex.schema.alterTable('tenantctl_tenants', (t) => {
    t.dropColumn('previous_status');
  });
}
