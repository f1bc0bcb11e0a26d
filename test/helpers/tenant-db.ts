import type { Knex } from 'knex';
import type { Workspace } from './workspace.js';

/** Opens a tenant's database with the admin credentials, runs `fn`, and closes it. */
export async function withTenantDb<T>(ws: Workspace, slug: string, fn: (db: Knex) => Promise<T>): Promise<T> {
  const db = ws.probe.admin(ws.names(slug).database);
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}
