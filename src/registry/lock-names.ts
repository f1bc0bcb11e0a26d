import { createHmac, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { InternalError } from '../core/errors.js';
import type { EngineDriver } from '../engines/engine-driver.js';

/**
 * One row, one random id: the registry's own secret, from which the names of its locks are made.
 * Kept out of the schema migrations on purpose: the lock that serialises those migrations is
 * named with it, so it must exist before them.
 */
const TABLE = 'tenantctl_registry_id';

/**
 * Lock names that only this registry's users can compute. Where the lock space is shared with
 * other users of the server (MySQL's GET_LOCK names are server-wide), a fixed name such as
 * `tenantctl:migrations` could be taken by any account on the server, a tenant's included, and
 * block tenantctl; an HMAC of the name under the registry's secret id cannot be guessed by anyone
 * who cannot read the registry.
 */
export function keyedLockName(secret: string, name: string): string {
  return `tenantctl:${createHmac('sha256', secret).update(name).digest('hex').slice(0, 40)}`;
}

/**
 * The registry's ownership mark (src/engines/ownership-mark.ts): public, on every database it
 * owns, so an HMAC of the secret rather than the secret, which would give the lock names away.
 */
export function registryMark(secret: string): string {
  return createHmac('sha256', secret).update('tenantctl:ownership-mark').digest('hex').slice(0, 32);
}

/** The registry's secret id, created (once, whichever run gets there first) when missing. */
export async function registrySecret(knex: Knex, driver: EngineDriver): Promise<string> {
  const read = async () => ((await knex(TABLE).where({ slot: 1 }).first('id')) as { id: string } | undefined)?.id;
  try {
    const id = await read();
    if (id) return id;
  } catch (error) {
    if (!driver.isMissingTableError(error)) throw error;
    await createTable(knex);
  }
  try {
    await knex(TABLE).insert({ slot: 1, id: randomBytes(32).toString('hex') });
  } catch (error) {
    if (!driver.isUniqueViolation(error)) throw error; // another run inserted it first: theirs counts
  }
  const id = await read();
  if (!id) throw new InternalError(`${TABLE} holds no id after it was written`);
  return id;
}

async function createTable(knex: Knex): Promise<void> {
  try {
    await knex.schema.createTable(TABLE, (t) => {
      t.integer('slot').primary();
      t.string('id', 64).notNullable();
    });
  } catch (error) {
    // Two first runs at once: one creates it, the other's CREATE fails; the table is there all the same.
    if (!(await knex.schema.hasTable(TABLE))) throw error;
  }
}
