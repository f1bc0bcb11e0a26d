import type { Knex } from 'knex';
import type { MigrationTable, SchemaTemplates, TenantLogin } from './engine-driver.js';

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** What the templates need of the PostgreSQL server they live on. */
export interface PostgresTemplateHost {
  admin(): Knex;
  onDatabase<T>(database: string, fn: (knex: Knex) => Promise<T>): Promise<T>;
  /** Makes the admin a member of a role (see PostgresServer.joinRole): needed to reassign what it owns. */
  joinRole(role: string): Promise<void>;
}

/**
 * PostgreSQL's templates: a sealed template is a database nobody may connect to (ALLOW_CONNECTIONS
 * false: CREATE DATABASE … TEMPLATE refuses a source with sessions), owned by the admin, whose
 * objects belong to a NOLOGIN role of its own; a clone's objects are reassigned from that role to
 * the tenant's user, which rewrites their ACLs as an ALTER … OWNER does.
 */
export class PostgresTemplates implements SchemaTemplates {
  constructor(private readonly host: PostgresTemplateHost) {}

  async sealTemplate(database: string, user: string | null): Promise<void> {
    const admin = this.host.admin();
    // Owned by the admin, not by the template's role: REASSIGN OWNED in a clone reaches the role's
    // shared objects too, and would give the template database itself to the tenant.
    await admin.raw(`alter database ${quote(database)} owner to current_user`);
    await admin.raw(`alter database ${quote(database)} with allow_connections false is_template true`);
    await admin.raw('select pg_catalog.pg_terminate_backend(pid) from pg_catalog.pg_stat_activity where datname = ?', [
      database,
    ]);
    if (user) await admin.raw(`alter role ${quote(user)} nologin`);
  }

  async cloneDatabase(template: string, database: string): Promise<void> {
    const admin = this.host.admin();
    await admin.raw(`create database ${quote(database)} template ${quote(template)}`);
    // As createDatabase: only the owner (given when the user is created) may connect.
    await admin.raw(`revoke connect, temporary on database ${quote(database)} from public`);
  }

  async finishClone(
    template: { database: string; user: string | null },
    login: TenantLogin,
    _table: MigrationTable,
  ): Promise<void> {
    if (!template.user) return;
    const from = template.user;
    await this.host.joinRole(from);
    if (login.user) await this.host.joinRole(login.user);
    await this.host.onDatabase(login.database, async (knex) => {
      // In this database only (and the role's shared objects, of which sealTemplate left none).
      await knex.raw(`reassign owned by ${quote(from)} to ${login.user ? quote(login.user) : 'current_user'}`);
    });
  }

  async dropTemplate(database: string, user: string | null): Promise<void> {
    const admin = this.host.admin();
    const exists = await admin.raw('select 1 from pg_catalog.pg_database where datname = ?', [database]);
    if (exists.rows.length) {
      // A template database cannot be dropped as such.
      await admin.raw(`alter database ${quote(database)} with is_template false`);
      await admin.raw(`drop database if exists ${quote(database)} with (force)`);
    }
    if (user) await admin.raw(`drop role if exists ${quote(user)}`);
  }
}
