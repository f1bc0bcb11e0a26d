import type { Context } from '../../context/context.js';
import { ConflictError, NotFoundError } from '../../core/errors.js';
import { EXISTING_SLUG, validateSlug } from '../../core/slug.js';
import { usersOf } from '../../engines/engine-driver.js';
import { deleteTenantRow, findTenantRow } from '../../registry/tenants-repo.js';
import { withTenantLock } from '../shared/tenant-lock.js';
import { MODE_CREATE_USER } from './adopt-tenant.js';

export interface AbandonAdoptionResult {
  slug: string;
  server: string;
  database: string;
  /** Whether the database was there (its mark and stamp were then taken back). */
  databaseFound: boolean;
  /** The user this adopt had made, dropped because the database is gone. */
  droppedUser: string | null;
  /**
   * The user this adopt had made, kept: it may own the database and its objects now, and giving
   * them back needs their first owners, which adopt does not record. README says how to do it by
   * hand.
   */
  keptUser: string | null;
}

/**
 * Gives up an adopt that cannot be finished (its database gone, the application's password
 * changed, a server that must not be touched further): takes back what the adopt wrote into the
 * database (the ownership mark, the migrations stamp), names a user it made (dropped only if the
 * database is gone), and removes the tenant's row so the slug and the database are free again. The
 * database and its data are never dropped: it was the application's before the adopt. Only a
 * tenant that is `adopting` can be abandoned; a finished adopt is deleted (or kept) like any
 * tenant.
 */
export async function abandonAdoption(ctx: Context, slugInput: string): Promise<AbandonAdoptionResult> {
  const slug = validateSlug(slugInput, EXISTING_SLUG);
  const registry = await ctx.registry();
  return withTenantLock(ctx, slug, async () => {
    const row = await findTenantRow(registry.knex, slug);
    if (!row) throw new NotFoundError(`tenant "${slug}" not found`);
    if (row.status !== 'adopting')
      throw new ConflictError(`tenant "${slug}" is ${row.status}, not being adopted: there is no adopt to abandon`);
    const server = await ctx.server(row.server_id);
    const connection = server.connection;
    const databaseFound = await connection.databaseExists(row.database_name);
    if (databaseFound) await connection.unmarkDatabase(row.database_name);
    let droppedUser: string | null = null;
    let keptUser: string | null = null;
    // The user was checked absent before the row was recorded, so a user of that name is the
    // adopt's own. Once made it may own the database (PostgreSQL gives it the database at once)
    // and its objects, whose first owners adopt does not record: it is kept unless the database
    // is gone with everything it could own.
    if (row.status_reason === MODE_CREATE_USER && row.database_user) {
      const users = usersOf(connection);
      if (await users.userExists(row.database_user)) {
        if (databaseFound) keptUser = row.database_user;
        else {
          await users.dropUser(row.database_user);
          droppedUser = row.database_user;
        }
      }
    }
    await deleteTenantRow(registry.knex, row.id);
    return { slug, server: server.row.name, database: row.database_name, databaseFound, droppedUser, keptUser };
  });
}
