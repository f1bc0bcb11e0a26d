import type { EngineDriver } from './engine-driver.js';
import { mysqlDriver } from './mysql-driver.js';
import { postgresDriver } from './postgres-driver.js';
import type { Engine } from './server-spec.js';
import { sqliteDriver } from './sqlite-driver.js';

const DRIVERS: Record<Engine, EngineDriver> = { postgres: postgresDriver, mysql: mysqlDriver, sqlite: sqliteDriver };

export function driverFor(engine: Engine): EngineDriver {
  return DRIVERS[engine];
}
