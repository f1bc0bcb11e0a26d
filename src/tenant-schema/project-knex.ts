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
    factory: knexFactory,
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
      factory: (config) => factory(byClientName(config)),
      used: { version: versionOf(packageDir), source: 'project', path: packageDir },
    };
  } catch (error) {
    return fallback(
      `the project's knex in ${packageDir} could not be loaded (${errorMessage(error)}); ran tenantctl's own`,
    );
  }
}

/**
 * A driver may give tenantctl's knex a client class of its own (one that loads its database
 * package its own way); another knex needs the client's name, and resolves the package by it from
 * the project, as the project's own code does.
 */
function byClientName(config: Knex.Config): Knex.Config {
  if (typeof config.client !== 'function') return config;
  const name = (config.client.prototype as { driverName?: string }).driverName;
  return name ? { ...config, client: name } : config;
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
