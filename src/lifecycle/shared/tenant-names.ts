import type { Config } from '../../config/config-keys.js';
import { UsageError } from '../../core/errors.js';
import { renderName } from '../../core/naming.js';
import type { EngineDriver } from '../../engines/engine-driver.js';

export interface TenantNames {
  database: string;
  /** Null where the engine has no users or per-tenant users are turned off. */
  user: string | null;
}

/**
 * The database and user names a slug gets on an engine, checked against the engine's identifier
 * limits and its own reserved names, before anything is touched.
 */
export function tenantNames(config: Config, driver: EngineDriver, slug: string): TenantNames {
  const database = renderName(config.databaseNameTemplate, slug);
  const user = driver.supportsUsers && config.tenantUsers ? renderName(config.userNameTemplate, slug) : null;
  check(driver, 'database', database, driver.limits.database);
  if (user) check(driver, 'user', user, driver.limits.user);
  return { database, user };
}

function check(driver: EngineDriver, kind: string, name: string, limit: number): void {
  // Names are ASCII by construction, so bytes (PostgreSQL) and characters (MySQL) agree.
  if (name.length > limit) {
    throw new UsageError(
      `${kind} name "${name}" is ${name.length} characters; ${driver.engine} allows ${limit}: use a shorter slug`,
    );
  }
  if (driver.isReservedName(name)) {
    throw new UsageError(`${kind} name "${name}" is reserved by ${driver.engine}: use another slug or naming template`);
  }
}
