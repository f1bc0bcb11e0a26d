import type { Config } from '../../config/config-keys.js';
import { UsageError } from '../../core/errors.js';
import { fitName, renderName, templateMetaKeys } from '../../core/naming.js';
import type { EngineDriver } from '../../engines/engine-driver.js';

export interface TenantNames {
  database: string;
  /** Null where the engine has no users or per-tenant users are turned off. */
  user: string | null;
  /** The names the templates gave, where they were longer than the engine allows and were shortened. */
  shortened?: { database?: string; user?: string };
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
  const fullDatabase = renderName(config.databaseNameTemplate, slug, metadata);
  const fullUser =
    driver.supportsUsers && config.tenantUsers ? renderName(config.userNameTemplate, slug, metadata) : null;
  // Too long for the engine (a UUID slug on MySQL's 32-character users): cut, with a hash suffix.
  // A metadata value that makes it too long is refused instead: that value is the operator's to fix.
  const fit = (kind: string, template: string, name: string, limit: number) => {
    if (name.length > limit && templateMetaKeys(template).length)
      throw new UsageError(
        `${kind} name "${name}" is ${name.length} characters; ${driver.engine} allows ${limit}: the metadata in "${template}" makes it too long`,
      );
    return fitName(name, limit);
  };
  const database = fit('database', config.databaseNameTemplate, fullDatabase, driver.limits.database);
  const user = fullUser === null ? null : fit('user', config.userNameTemplate, fullUser, driver.limits.user);
  check(driver, 'database', database);
  if (user) check(driver, 'user', user);
  const shortened = {
    ...(database !== fullDatabase ? { database: fullDatabase } : {}),
    ...(user !== fullUser && fullUser !== null ? { user: fullUser } : {}),
  };
  return { database, user, ...(Object.keys(shortened).length ? { shortened } : {}) };
}

// Names are ASCII by construction, so bytes (PostgreSQL) and characters (MySQL) agree in fitName.
function check(driver: EngineDriver, kind: string, name: string): void {
  if (driver.isReservedName(name)) {
    throw new UsageError(`${kind} name "${name}" is reserved by ${driver.engine}: use another slug or naming template`);
  }
}
