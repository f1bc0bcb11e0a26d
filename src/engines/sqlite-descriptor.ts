import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import type { EngineDescriptor } from './engine-descriptor.js';

const SCHEME = 'sqlite:';

/** `sqlite:/abs`, `sqlite:///abs` or `sqlite:relative`: the path after the scheme. */
function pathOf(url: string): string {
  return url.slice(SCHEME.length).replace(/^\/\/(?=\/)/, '');
}

export const sqliteDescriptor = {
  engine: 'sqlite',
  urlSchemes: ['sqlite'],
  urlForms: [SCHEME],
  parseUrl(url) {
    const path = pathOf(url);
    if (!path) throw new UsageError(`"${url}" names no SQLite path`);
    return { engine: 'sqlite', path };
  },
  // A relative path is relative to the working directory; made absolute once, when configuration is read.
  absoluteUrl(url, cwd) {
    const path = pathOf(url);
    return `${SCHEME}${isAbsolute(path) ? path : resolve(cwd, path)}`;
  },
  describe: (spec) => `${SCHEME}${spec.path}`,
  address: (spec) => spec.path ?? '',
  defaultName: () => 'sqlite-local',
  // The file the driver keeps the tenant in (sqlite-driver.ts fileFor); no host, no login.
  connectionConfig: (spec, login) => ({
    engine: 'sqlite',
    host: null,
    port: null,
    user: null,
    password: null,
    database: join(spec.path ?? '', `${login.database}.sqlite`),
    ssl: null,
  }),
  connectionUrl: (config) => `file:${config.database}`,
  tlsParameters: () => null,
  toolSettings: [] as const,
  knexClients: ['better-sqlite3', 'sqlite3', 'sqlite'],
} as const satisfies EngineDescriptor;

/** The embedded defaults: a registry file and a directory of tenant files under `home`. */
export const embeddedDefaults = {
  registryUrl: (home: string) => `${SCHEME}${home}/registry.sqlite`,
  serverUrl: (home: string) => `${SCHEME}${home}/tenants`,
};
