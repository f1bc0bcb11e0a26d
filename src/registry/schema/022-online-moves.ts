import type { Knex } from 'knex';

/**
 * Online moves (logical replication): how a move runs (`online` or `offline`; null for moves
 * recorded before), and the source's tables it gave a full replica identity for the move (JSON
 * list), recorded before it does, so that a killed move's cleanup gives them theirs back.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_moves', (t) => {
    t.string('mode', 16);
    t.text('replica_full');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_moves', (t) => {
    t.dropColumn('mode');
    t.dropColumn('replica_full');
  });
}
