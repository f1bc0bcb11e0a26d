import { parseDuration } from '../core/duration.js';
import { errorMessage } from '../core/errors.js';
import { validateTemplate } from '../core/naming.js';
import { validateSlugPattern } from '../core/slug.js';
import { DEFAULT_URLS, TOOL_SETTINGS, descriptorForUrl, urlForms, type ToolConfig } from '../engines/descriptors.js';
import { validateWaveConfigs, type WaveConfig } from './wave-config.js';

/** Where an effective configuration value came from, in order of precedence. */
export type ConfigSource = 'flag' | 'env' | 'file' | 'default';

/** The engine-independent configuration keys. */
export interface CoreConfig {
  /** Working directory for the embedded defaults (registry, SQLite tenants, secret key). Default `.tenantctl`. */
  home: string;
  /** Registry database URL. Default `sqlite:<home>/registry.sqlite`. */
  registryUrl: string;
  /** The server new tenants are created on. Default `sqlite:<home>/tenants` (one file per tenant). */
  serverUrl: string;
  /** The registry's name for that server. Default derived from the URL, e.g. `postgres-127.0.0.1-5432`. */
  serverName: string | undefined;
  /** 32-byte key (hex or base64) that encrypts passwords at rest. Default: read from `secretKeyFile`. */
  secretKey: string | undefined;
  /** File holding the key when `secretKey` is unset; the embedded default generates it. Default `<home>/secret.key`. */
  secretKeyFile: string;
  /** Directory of the tenant schema's Knex migrations. Default `migrations`. */
  migrationsDir: string;
  /** Directory of the tenant seeds. Default `seeds`. */
  seedsDir: string;
  /**
   * The project's knexfile: every setting in it but the connection is used for tenant databases
   * (README "Writing migrations and seeds"). Default: a `knexfile.{js,cjs,mjs,ts,cts,mts}` in the
   * working directory, as the knex CLI finds it; none, none.
   */
  knexfile: string | undefined;
  /** The knexfile's environment, when it exports one object per environment. Default `NODE_ENV`, else `development`. */
  knexEnv: string;
  /**
   * The tenant databases' admin setup: a `.sql` file, or a module exporting `setup(knex, tenant)`,
   * run as the server's admin on each tenant's database before its migrations (create, move's
   * target, `tenantctl setup`). Idempotent by contract. Default none.
   */
  adminSetup: string | undefined;
  /**
   * Not a key: set by resolveConfig, true for a directory given by a flag, the environment or the
   * config file (it wins over the knexfile's). Absent means configured.
   */
  directoriesConfigured?: { migrations: boolean; seeds: boolean };
  /** What a new tenant's slug may be: `word` (default), `id` (ObjectIds, UUIDs) or a regular expression. */
  slugPattern: string;
  /** Template for tenant database names. Default `tenant_{slug}`. */
  databaseNameTemplate: string;
  /** Template for tenant database users. Default `tenant_{slug}`. */
  userNameTemplate: string;
  /** Give each tenant its own least-privilege database user. Default true; false shares the server's credentials. */
  tenantUsers: boolean;
  /**
   * Let commands read, dump, restore and migrate the databases of tenants without a user of their
   * own (`tenantUsers: false`) over the admin's session, where whatever the tenant defined runs with
   * the admin's rights. Default false: those commands are refused (exit 2). `--trust-tenant-code`.
   */
  trustTenantCode: boolean;
  /**
   * `create` copies each server's schema template instead of replaying the migrations (README
   * "Templates"). Default true.
   */
  templates: boolean;
  /** MySQL/MariaDB host part of tenant accounts (`'user'@'host'`). Default `%`. */
  mysqlUserHost: string;
  /** Tenants worked on at once by fleet commands (migrate-all, …). Default 4. */
  concurrency: number;
  /**
   * Most tenants fleet commands work on at once on one server. Default: the server's own setting, else `concurrency`.
   */
  perServer: number | undefined;
  /** Seconds a connection attempt to a server may take before it counts as unreachable. Default 5. */
  connectTimeout: number;
  /**
   * How `create` chooses a server without `--server`: `tenants` (fewest per weight) or `bytes` (least data per
   * weight). Default `tenants`.
   */
  placement: 'tenants' | 'bytes';
  /**
   * How `move` runs where the source cannot move online (README "Moving tenants"): `online`
   * (default: the move is refused, naming the setting; `--offline` moves it offline) or `auto`
   * (offline then, saying why).
   */
  moveMode: 'online' | 'auto';
  /** Where backups are written: `<backupDir>/<slug>/<slug>-<UTC time>.<ext>`. Default `<home>/backups`. */
  backupDir: string;
  /**
   * Where backups are kept: a local directory, or `s3://bucket/prefix` (an S3 or S3-compatible
   * store). Default: `backupDir`.
   */
  backupStore: string | undefined;
  /** The S3 endpoint of an S3-compatible store (`http://127.0.0.1:9000`); default AWS's own. */
  s3Endpoint: string | undefined;
  /** The S3 region; default AWS_REGION, else `us-east-1`. */
  s3Region: string | undefined;
  /** Path-style S3 addressing (`endpoint/bucket/key`), which most S3-compatible stores need. Default false. */
  s3ForcePathStyle: boolean;
  /**
   * `on`: each backup encrypted (AES-256-GCM, a data key per backup wrapped by the registry key);
   * `off`: not. Default: `on` when the store is not a local directory, else `off`.
   */
  backupEncryption: 'on' | 'off' | undefined;
  /** Days a deleted tenant's backups are kept after its delete, then erased by `backup --all`. Default 30. */
  deletedRetentionDays: number;
  /**
   * Metadata keys the registry indexes: each value belongs to one tenant at most (checked on
   * create and update) and applications find tenants by it (`fleet.resolve({ domain })`). Default none.
   */
  indexedMetadata: string[];
  /** How long a migration session waits for a lock before that tenant fails: `5s`, `500ms`, `1m`. Default `5s`. */
  lockTimeout: string;
  /**
   * The longest one of tenantctl's own statements (catalog reads, counts, the registry's queries,
   * not migrations) may run: the server cancels it after this (PostgreSQL `statement_timeout`,
   * MariaDB `max_statement_time`, MySQL `max_execution_time`), and a connection that gets no
   * answer for this plus `connectTimeout` is dropped. Default `5m`.
   */
  statementTimeout: string;
  /**
   * Waves `migrate-all` and `rollback --all` run in when `--waves` is not given: [{ name?, select: { plans?, labels?,
   * servers?, slugs? }, concurrency? }]. Default: none (one batch).
   */
  waves: WaveConfig[] | undefined;
}

/**
 * The effective configuration every command runs with; see README.md "Configuration". Besides
 * the keys above, each engine's dump and restore tools (`pgDump`, `mysqlClient`, …: see
 * TOOL_SETTINGS): a bare name is looked up on PATH; unset, the driver picks what is installed.
 */
export type Config = CoreConfig & ToolConfig;

/** `json`: any JSON value in the config file, a JSON text in the environment. */
type KeyType = 'string' | 'boolean' | 'path' | 'count' | 'days' | 'list' | 'json';

export interface ConfigKeyDefinition {
  key: keyof Config;
  env: string;
  type: KeyType;
  secret?: boolean;
  description: string;
  /** Returns an error text for a bad value, or undefined. */
  validate?: (value: string) => string | undefined;
  /** For `json` keys: checks the value (throws naming what is wrong). */
  validateJson?: (value: unknown) => unknown;
}

/** Metadata keys: what `--set key=value` accepts. */
export const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const validateMetadataKey = (value: string) =>
  METADATA_KEY.test(value)
    ? undefined
    : `"${value}" is not a metadata key (letters, digits, "_", "-" or ".", at most 64)`;

function validateDuration(value: string): string | undefined {
  try {
    parseDuration(value);
    return undefined;
  } catch (error) {
    return errorMessage(error).replace(/^duration: /, '');
  }
}

const validateUrl = (value: string) => (descriptorForUrl(value) ? undefined : `must start with ${urlForms()}`);

export const CONFIG_KEYS: readonly ConfigKeyDefinition[] = [
  {
    key: 'home',
    env: 'TENANTCTL_HOME',
    type: 'path',
    description: 'directory for the embedded registry, SQLite tenants and the generated key',
  },
  {
    key: 'registryUrl',
    env: 'TENANTCTL_REGISTRY_URL',
    type: 'string',
    secret: true,
    validate: validateUrl,
    description: 'registry database URL',
  },
  {
    key: 'serverUrl',
    env: 'TENANTCTL_SERVER_URL',
    type: 'string',
    secret: true,
    validate: validateUrl,
    description: 'server new tenants are created on',
  },
  {
    key: 'serverName',
    env: 'TENANTCTL_SERVER_NAME',
    type: 'string',
    description: "the registry's name for that server",
  },
  {
    key: 'secretKey',
    env: 'TENANTCTL_SECRET_KEY',
    type: 'string',
    secret: true,
    description: 'key that encrypts tenant passwords at rest (hex or base64, 32 bytes)',
  },
  {
    key: 'secretKeyFile',
    env: 'TENANTCTL_SECRET_KEY_FILE',
    type: 'path',
    description: 'file holding the key when secretKey is unset',
  },
  {
    key: 'migrationsDir',
    env: 'TENANTCTL_MIGRATIONS_DIR',
    type: 'path',
    description: 'tenant schema migrations (Knex)',
  },
  { key: 'seedsDir', env: 'TENANTCTL_SEEDS_DIR', type: 'path', description: 'tenant seeds' },
  {
    key: 'knexfile',
    env: 'TENANTCTL_KNEXFILE',
    type: 'path',
    description: "the project's knexfile (default ./knexfile.* if present): all but its connection is used",
  },
  {
    key: 'knexEnv',
    env: 'TENANTCTL_KNEX_ENV',
    type: 'string',
    description: "the knexfile's environment (default NODE_ENV, else development)",
  },
  {
    key: 'adminSetup',
    env: 'TENANTCTL_ADMIN_SETUP',
    type: 'path',
    description:
      "a .sql file or setup(knex, tenant) module run as the server's admin on each tenant database before migrations",
  },
  {
    key: 'slugPattern',
    env: 'TENANTCTL_SLUG_PATTERN',
    type: 'string',
    validate: validateSlugPattern,
    description: 'what a slug may be: word (default), id (hex ObjectIds, UUIDs) or a regular expression',
  },
  {
    key: 'databaseNameTemplate',
    env: 'TENANTCTL_DATABASE_NAME_TEMPLATE',
    type: 'string',
    validate: validateTemplate,
    description: 'tenant database name template',
  },
  {
    key: 'userNameTemplate',
    env: 'TENANTCTL_USER_NAME_TEMPLATE',
    type: 'string',
    validate: validateTemplate,
    description: 'tenant database user template',
  },
  {
    key: 'tenantUsers',
    env: 'TENANTCTL_TENANT_USERS',
    type: 'boolean',
    description: 'create a database user per tenant',
  },
  {
    key: 'trustTenantCode',
    env: 'TENANTCTL_TRUST_TENANT_CODE',
    type: 'boolean',
    description: "work on tenants without a user of their own over the admin's session (tenantUsers: false)",
  },
  {
    key: 'templates',
    env: 'TENANTCTL_TEMPLATES',
    type: 'boolean',
    description: 'create tenants from a schema template (off: replay every migration)',
  },
  {
    key: 'mysqlUserHost',
    env: 'TENANTCTL_MYSQL_USER_HOST',
    type: 'string',
    description: 'host part of MySQL tenant accounts',
  },
  {
    key: 'concurrency',
    env: 'TENANTCTL_CONCURRENCY',
    type: 'count',
    description: 'tenants worked on at once by fleet commands',
  },
  {
    key: 'perServer',
    env: 'TENANTCTL_PER_SERVER',
    type: 'count',
    description: "tenants worked on at once on one server (default: the server's own limit, else concurrency)",
  },
  {
    key: 'connectTimeout',
    env: 'TENANTCTL_CONNECT_TIMEOUT',
    type: 'count',
    description: 'seconds before an unanswered server counts as unreachable',
  },
  {
    key: 'placement',
    env: 'TENANTCTL_PLACEMENT',
    type: 'string',
    validate: (value) => (value === 'tenants' || value === 'bytes' ? undefined : 'must be "tenants" or "bytes"'),
    description: 'how create chooses a server: fewest tenants or least bytes, per weight',
  },
  {
    key: 'moveMode',
    env: 'TENANTCTL_MOVE_MODE',
    type: 'string',
    validate: (value) => (value === 'online' || value === 'auto' ? undefined : 'must be "online" or "auto"'),
    description: 'move where the source cannot move online: refuse (online) or move offline (auto)',
  },
  { key: 'backupDir', env: 'TENANTCTL_BACKUP_DIR', type: 'path', description: 'where backups are written' },
  {
    key: 'backupStore',
    env: 'TENANTCTL_BACKUP_STORE',
    type: 'string',
    validate: (value) =>
      value.startsWith('s3://')
        ? /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(value)
          ? undefined
          : 'must be s3://bucket or s3://bucket/prefix (bucket in lower case)'
        : value.includes('://')
          ? 'must be a directory or s3://bucket/prefix'
          : undefined,
    description: 'where backups are kept: a directory or s3://bucket/prefix (default: backupDir)',
  },
  {
    key: 's3Endpoint',
    env: 'TENANTCTL_S3_ENDPOINT',
    type: 'string',
    validate: (value) => (/^https?:\/\/[^\s]+$/.test(value) ? undefined : 'must be an http:// or https:// URL'),
    description: 'endpoint of an S3-compatible store (default: AWS)',
  },
  {
    key: 's3Region',
    env: 'TENANTCTL_S3_REGION',
    type: 'string',
    description: 'S3 region (default: AWS_REGION, else us-east-1)',
  },
  {
    key: 's3ForcePathStyle',
    env: 'TENANTCTL_S3_FORCE_PATH_STYLE',
    type: 'boolean',
    description: 'path-style S3 addressing (most S3-compatible stores need it)',
  },
  {
    key: 'backupEncryption',
    env: 'TENANTCTL_BACKUP_ENCRYPTION',
    type: 'string',
    validate: (value) => (value === 'on' || value === 'off' ? undefined : 'must be "on" or "off"'),
    description: 'encrypt backups (default: on when backupStore is S3, off for a directory)',
  },
  {
    key: 'deletedRetentionDays',
    env: 'TENANTCTL_DELETED_RETENTION_DAYS',
    type: 'days',
    description: "days a deleted tenant's backups are kept, then erased (backup --all, backups prune --deleted)",
  },
  // Each engine's tools, as its descriptor declares them (src/engines/*-descriptor.ts).
  ...TOOL_SETTINGS.map((tool): ConfigKeyDefinition => ({
    key: tool.key,
    env: tool.env,
    type: 'string',
    description: tool.description,
  })),
  {
    key: 'indexedMetadata',
    env: 'TENANTCTL_INDEXED_METADATA',
    type: 'list',
    validate: validateMetadataKey,
    description: 'metadata keys that are unique per tenant and resolvable (comma-separated)',
  },
  {
    key: 'lockTimeout',
    env: 'TENANTCTL_LOCK_TIMEOUT',
    type: 'string',
    validate: validateDuration,
    description: 'how long a migration session waits for a lock before the tenant fails (5s, 500ms)',
  },
  {
    key: 'statementTimeout',
    env: 'TENANTCTL_STATEMENT_TIMEOUT',
    type: 'string',
    validate: (value) => validateDuration(value) ?? (parseDuration(value) < 1000 ? 'must be at least 1s' : undefined),
    description: "the longest one of tenantctl's own statements may run (not migrations): 5m, 30s",
  },
  {
    key: 'waves',
    env: 'TENANTCTL_WAVES',
    type: 'json',
    validateJson: (value) => validateWaveConfigs(value, 'waves'),
    description: 'waves of migrate-all and rollback --all (JSON array)',
  },
];

/** Defaults depend on `home`, so they are computed after every other source is read. */
export function defaultFor(key: keyof Config, home: string): Config[keyof Config] {
  const tool = TOOL_SETTINGS.find((t) => t.key === key);
  if (tool) return tool.default;
  switch (key as keyof CoreConfig) {
    case 'home':
      return '.tenantctl';
    case 'registryUrl':
      return DEFAULT_URLS.registryUrl(home);
    case 'serverUrl':
      return DEFAULT_URLS.serverUrl(home);
    case 'serverName':
      return undefined;
    case 'secretKey':
      return undefined;
    case 'secretKeyFile':
      return `${home}/secret.key`;
    case 'migrationsDir':
      return 'migrations';
    case 'seedsDir':
      return 'seeds';
    // Both depend on the working directory and NODE_ENV: resolveConfig fills them in.
    case 'knexfile':
      return undefined;
    case 'knexEnv':
      return 'development';
    case 'adminSetup':
      return undefined;
    case 'slugPattern':
      return 'word';
    case 'databaseNameTemplate':
      return 'tenant_{slug}';
    case 'userNameTemplate':
      return 'tenant_{slug}';
    case 'tenantUsers':
      return true;
    case 'trustTenantCode':
      return false;
    case 'templates':
      return true;
    case 'mysqlUserHost':
      return '%';
    case 'concurrency':
      return 4;
    case 'perServer':
      return undefined;
    case 'connectTimeout':
      return 5;
    case 'placement':
      return 'tenants';
    case 'moveMode':
      return 'online';
    case 'backupDir':
      return `${home}/backups`;
    case 'deletedRetentionDays':
      return 30;
    case 'backupStore':
    case 's3Endpoint':
    case 's3Region':
    case 'backupEncryption':
      return undefined;
    case 's3ForcePathStyle':
      return false;
    case 'indexedMetadata':
      return [];
    case 'lockTimeout':
      return '5s';
    case 'statementTimeout':
      return '5m';
    case 'waves':
      return undefined;
  }
}
