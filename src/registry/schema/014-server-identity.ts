import type { Knex } from 'knex';

/**
 * A server's identity: what the server itself says it is (PostgreSQL's system identifier and
 * port, MySQL's server_uuid, the mark tenantctl keeps on MariaDB and in a SQLite directory),
 * recorded at `server add` and checked on every connection. Unique, so one server is never
 * registered under two names (addresses are only text: `localhost` and `127.0.0.1` are one server).
 * Servers registered before this have none until tenantctl first reaches them.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_servers', (t) => {
    t.string('identity', 255);
    t.unique(['identity'], { indexName: 'tenantctl_servers_identity_unique' });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenantctl_servers', (t) => {
    t.dropUnique(['identity'], 'tenantctl_servers_identity_unique');
    t.dropColumn('identity');
  });
}
