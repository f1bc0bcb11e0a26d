import type { TlsParameterNames } from './tls-settings.js';
import { networkUrlFormat, type EngineDescriptor, type ToolSetting } from './engine-descriptor.js';

/** Unset: `mariadb-dump` or `mysqldump`, whichever is installed. */
const MYSQL_DUMP = {
  key: 'mysqlDump',
  env: 'TENANTCTL_MYSQL_DUMP',
  default: undefined,
  description: 'mysqldump / mariadb-dump executable',
} as const satisfies ToolSetting;
/** Unset: `mariadb` or `mysql`, whichever is installed. */
const MYSQL_CLIENT = {
  key: 'mysqlClient',
  env: 'TENANTCTL_MYSQL_CLIENT',
  default: undefined,
  description: 'mysql / mariadb client executable (restores)',
} as const satisfies ToolSetting;

/** The MySQL client's option names and `--ssl-mode` values (MariaDB's client is given its own flags: mysql-dump.ts). */
export const MYSQL_TLS: TlsParameterNames = {
  mode: 'ssl-mode',
  modes: {
    disable: 'DISABLED',
    prefer: 'PREFERRED',
    require: 'REQUIRED',
    'verify-ca': 'VERIFY_CA',
    'verify-full': 'VERIFY_IDENTITY',
  },
  ca: 'ssl-ca',
  cert: 'ssl-cert',
  key: 'ssl-key',
};

export const mysqlDescriptor = {
  engine: 'mysql',
  urlSchemes: ['mysql', 'mariadb'],
  urlForms: ['mysql://', 'mariadb://'],
  ...networkUrlFormat('mysql', { port: 3306, user: 'root', appScheme: 'mysql', tls: MYSQL_TLS }),
  toolSettings: [MYSQL_DUMP, MYSQL_CLIENT] as const,
  knexClients: ['mysql2', 'mysql', 'mariadb'],
} as const satisfies EngineDescriptor;
