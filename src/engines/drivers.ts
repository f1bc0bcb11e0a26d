import { InternalError } from '../core/errors.js';
import type { EngineDriver } from './engine-driver.js';
import { mysqlDriver } from './mysql-driver.js';
import { postgresDriver } from './postgres-driver.js';
import type { Engine } from './server-spec.js';
import { sqliteDriver } from './sqlite-driver.js';

/**
 * Every engine tenantctl knows. Adding an engine touches only src/engines: its name in Engine
 * (server-spec.ts), its descriptor (URL forms, tool settings) listed in descriptors.ts, and its
 * driver listed here. Nothing outside asks which engine it is; it asks the driver.
 */
export const DRIVERS: readonly EngineDriver[] = [postgresDriver, mysqlDriver, sqliteDriver];

export function driverFor(engine: Engine): EngineDriver {
  const driver = DRIVERS.find((d) => d.engine === engine);
  if (!driver) throw new InternalError(`no driver for engine "${engine}"`);
  return driver;
}

/** The driver whose backups end like `file` (`.pgdump`, `.sql.gz`, …), or undefined. */
export function driverForBackupFile(file: string): EngineDriver | undefined {
  return DRIVERS.find((d) => file.endsWith(`.${d.backupExtension}`));
}

/** Every backup file extension, with its dot, for messages: `.pgdump, .sql.gz or .sqlite.gz`. */
export function backupExtensions(): string {
  const all = DRIVERS.map((d) => `.${d.backupExtension}`);
  return all.length > 1 ? `${all.slice(0, -1).join(', ')} or ${all.at(-1)}` : all.join('');
}
