import type { Config } from '../../config/config-keys.js';
import { UsageError } from '../../core/errors.js';
import { renderName, templateMetaKeys } from '../../core/naming.js';
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
export function tenantNames(
  config: Config,
  driver: EngineDriver,
  slug: string,
  metadata: Record<string, unknown> = {},
): TenantNames {
  // `{meta.<key>}` only of indexed metadata: a value that is unique and looked up, not free text.
  for (const key of [config.databaseNameTemplate, config.userNameTemplate].flatMap(templateMetaKeys))
    if (!config.indexedMetadata.includes(key))
      throw new UsageError(`naming template uses {meta.${key}}, but "${key}" is not in indexedMetadata`);
  const database = renderName(config.databaseNameTemplate, slug, metadata);
  const user = driver.supportsUsers && config.tenantUsers ? renderName(config.userNameTemplate, slug, metadata) : null;
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
