import { InternalError, UsageError } from '../core/errors.js';
import type { EngineDescriptor, ToolSetting } from './engine-descriptor.js';
import { mysqlDescriptor } from './mysql-descriptor.js';
import { postgresDescriptor } from './postgres-descriptor.js';
import type { Engine } from './server-spec.js';
import { embeddedDefaults, sqliteDescriptor } from './sqlite-descriptor.js';

/**
 * Every engine's descriptor (URL forms, tool settings), in the order configuration lists them.
 * Light on purpose: configuration loads this list on every command, the drivers (drivers.ts) only
 * when a command needs one. Adding an engine: its descriptor here, its driver there.
 */
export const DESCRIPTORS = [
  postgresDescriptor,
  mysqlDescriptor,
  sqliteDescriptor,
] as const satisfies readonly EngineDescriptor[];

/** Every engine's tool settings, in engine order: configuration keys of their own. */
export const TOOL_SETTINGS: ReadonlyArray<ToolSetting<ToolKey>> = DESCRIPTORS.flatMap(
  (d): ReadonlyArray<ToolSetting<ToolKey>> => d.toolSettings,
);

type AnyToolSetting = (typeof DESCRIPTORS)[number]['toolSettings'][number];

/** The configuration keys of the tool settings: `pgDump`, `pgRestore`, `mysqlDump`, `mysqlClient`. */
export type ToolKey = AnyToolSetting['key'];

/** Each tool setting's configured value: always a string where it has a default, else possibly unset. */
export type ToolConfig = {
  [S in AnyToolSetting as S['key']]: S['default'] extends string ? string : string | undefined;
};

/** Where the registry and new tenants live when nothing is configured: embedded, under `home`. */
export const DEFAULT_URLS: { registryUrl(home: string): string; serverUrl(home: string): string } = embeddedDefaults;

export function descriptorFor(engine: Engine): EngineDescriptor {
  const descriptor = DESCRIPTORS.find((d) => d.engine === engine);
  if (!descriptor) throw new InternalError(`no descriptor for engine "${engine}"`);
  return descriptor;
}

/**
 * The name a knexfile gives the client (`sqlite3`, `postgresql`, …) when it names the same engine
 * as `tenantClient` (the name of the client tenantctl connects with), else `tenantClient`: what
 * a migration sees as `knex.client.config.client`, as the knex CLI would show it.
 */
export function knexClientName(tenantClient: string, knexfileClient: unknown): string {
  if (typeof knexfileClient !== 'string') return tenantClient;
  const engine = DESCRIPTORS.find((d) => (d.knexClients as readonly string[]).includes(tenantClient));
  return engine && (engine.knexClients as readonly string[]).includes(knexfileClient) ? knexfileClient : tenantClient;
}

/** The descriptor whose scheme starts `url` (case-insensitive, as URL schemes are), or undefined. */
export function descriptorForUrl(url: string): EngineDescriptor | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  return scheme === undefined
    ? undefined
    : DESCRIPTORS.find((d) => (d.urlSchemes as readonly string[]).includes(scheme));
}

/** Every accepted URL start for messages: `postgres://, mysql://, mariadb:// or sqlite:`. */
export function urlForms(): string {
  const all = DESCRIPTORS.flatMap((d) => d.urlForms);
  return all.length > 1 ? `${all.slice(0, -1).join(', ')} or ${all.at(-1)}` : all.join('');
}

/** Throws the usage error for a URL no engine takes; never repeats the URL (it may hold a password). */
export function unsupportedUrl(url: string): never {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  if (scheme === undefined || !URL.canParse(url)) {
    throw new UsageError('a server URL is not a valid URL (expected e.g. postgres://user@host:5432/postgres)');
  }
  throw new UsageError(`unsupported URL scheme "${new URL(url).protocol}" (use ${urlForms()})`);
}
