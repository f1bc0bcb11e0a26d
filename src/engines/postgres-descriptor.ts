import type { TlsParameterNames } from './tls-settings.js';
import { networkUrlFormat, type EngineDescriptor, type ToolSetting } from './engine-descriptor.js';

const PG_DUMP = {
  key: 'pgDump',
  env: 'TENANTCTL_PG_DUMP',
  default: 'pg_dump',
  description: 'pg_dump executable',
} as const satisfies ToolSetting;
const PG_RESTORE = {
  key: 'pgRestore',
  env: 'TENANTCTL_PG_RESTORE',
  default: 'pg_restore',
  description: 'pg_restore executable',
} as const satisfies ToolSetting;

/** libpq's parameter names and modes, which psql, pg_dump and most PostgreSQL clients read too. */
export const POSTGRES_TLS: TlsParameterNames = {
  mode: 'sslmode',
  modes: {
    disable: 'disable',
    prefer: 'prefer',
    require: 'require',
    'verify-ca': 'verify-ca',
    'verify-full': 'verify-full',
  },
  ca: 'sslrootcert',
  cert: 'sslcert',
  key: 'sslkey',
};

export const postgresDescriptor = {
  engine: 'postgres',
  urlSchemes: ['postgres', 'postgresql'],
  urlForms: ['postgres://'],
  // postgresql://: the scheme every client takes (SQLAlchemy 1.4+ refuses postgres://).
  ...networkUrlFormat('postgres', { port: 5432, user: 'postgres', appScheme: 'postgresql', tls: POSTGRES_TLS }),
  toolSettings: [PG_DUMP, PG_RESTORE] as const,
  knexClients: ['pg', 'postgres', 'postgresql', 'pgnative'],
} as const satisfies EngineDescriptor;
