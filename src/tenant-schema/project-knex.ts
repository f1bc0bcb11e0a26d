import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { errorMessage } from '../core/errors.js';

/** Which knex ran a tenant's migrations and seeds (shown by `create` and `migrate-all`). */
export interface KnexUsed {
  /** The knex package's version. */
  version: string;
  /** `project`: the one the migrations directory resolves, as the knex CLI would use; else tenantctl's own. */
  source: 'project' | 'tenantctl';
  /** The knex package directory, for `project`. */
  path: string | null;
  /** Why tenantctl's own knex ran, when the project has none or it could not be loaded. */
  note?: string;
}

export interface ProjectKnex {
  factory: (config: Knex.Config) => Knex;
  used: KnexUsed;
}

const own = createRequire(import.meta.url);
const resolved = new Map<string, ProjectKnex>();

/**
 * The knex a migrations directory resolves (its project's `node_modules/knex`, found as Node and
 * the knex CLI find it), so migrations written for an older knex run with it; tenantctl's own
 * knex when there is none, or it cannot be loaded, with a note saying so. Resolved once per run.
 */
export function projectKnex(migrationsDir: string): ProjectKnex {
  const directory = resolve(migrationsDir);
  let found = resolved.get(directory);
  if (!found) {
    found = load(directory);
    resolved.set(directory, found);
  }
  return found;
}

function load(directory: string): ProjectKnex {
  const ownPackage = packageDirectory(own.resolve('knex'));
  const fallback = (note?: string): ProjectKnex => ({
    factory: (config) => named(knexFactory(config), config),
    used: { version: versionOf(ownPackage), source: 'tenantctl', path: null, ...(note ? { note } : {}) },
  });
  const require = createRequire(join(directory, 'noop.js'));
  let entry: string;
  try {
    entry = require.resolve('knex');
  } catch {
    return fallback(`no knex package resolves from ${directory}; ran tenantctl's own`);
  }
  const packageDir = packageDirectory(entry);
  if (realpathSync(packageDir) === realpathSync(ownPackage)) return fallback();
  try {
    type Factory = (config: Knex.Config) => Knex;
    const loaded = require(entry) as Factory | { knex?: Factory; default?: Factory };
    const factory = typeof loaded === 'function' ? loaded : (loaded.knex ?? loaded.default);
    if (typeof factory !== 'function') throw new Error('it exports no knex function');
    return {
      factory: (config) => named(factory(inProjectKnex(config, packageDir)), config),
      used: { version: versionOf(packageDir), source: 'project', path: packageDir },
    };
  } catch (error) {
    return fallback(
      `the project's knex in ${packageDir} could not be loaded (${errorMessage(error)}); ran tenantctl's own`,
    );
  }
}

/** A client class a driver gives tenantctl's knex: the dialect's name, and the database package it loads itself. */
interface OwnClient {
  prototype: { driverName?: string };
  loadDriver?: () => unknown;
}

/**
 * A driver may give tenantctl's knex a client class of its own, which loads its database package
 * its own way (SQLite: the better-sqlite3 major that runs on this Node). Another knex gets the
 * same: its own dialect of that name, handed the package tenantctl loaded, never the one the
 * project resolves. (A knex without that dialect gets the name and resolves the package itself.)
 */
function inProjectKnex(config: Knex.Config, knexPackage: string): Knex.Config {
  if (typeof config.client !== 'function') return config;
  const client = config.client as unknown as OwnClient;
  const name = client.prototype.driverName;
  if (!name) return config;
  if (!client.loadDriver) return { ...config, client: name };
  const driver = client.loadDriver(); // an unusable one fails here, as tenantctl's own would
  let Dialect: new (...args: unknown[]) => { _driver(): unknown };
  try {
    Dialect = createRequire(join(knexPackage, 'package.json'))(`./lib/dialects/${name}/index.js`) as typeof Dialect;
  } catch {
    return { ...config, client: name };
  }
  class WithDriver extends Dialect {
    override _driver(): unknown {
      return driver;
    }
  }
  return { ...config, client: WithDriver as unknown as typeof Knex.Client };
}

/**
 * Migrations may ask which client runs them (`knex.client.config.client === 'better-sqlite3'`):
 * a client class given in its place is named again once the knex is made.
 */
function named(knex: Knex, config: Knex.Config): Knex {
  const name =
    typeof config.client === 'function' ? (config.client as unknown as OwnClient).prototype.driverName : undefined;
  if (name) (knex.client as { config: Knex.Config }).config.client = name;
  return knex;
}

/** The directory of the knex package a file belongs to. */
function packageDirectory(file: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'knex')
      return dir;
  }
  return dirname(file);
}

function versionOf(packageDir: string): string {
  try {
    return (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
