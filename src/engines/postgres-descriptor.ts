import type { DumpTools } from './engine-driver.js';
import { networkUrlFormat, type EngineDescriptor, type ToolSetting } from './engine-descriptor.js';

export const PG_DUMP = { key: 'pgDump', env: 'TENANTCTL_PG_DUMP', default: 'pg_dump', description: 'pg_dump executable' } as const satisfies ToolSetting;
export const PG_RESTORE = { key: 'pgRestore', env: 'TENANTCTL_PG_RESTORE', default: 'pg_restore', description: 'pg_restore executable' } as const satisfies ToolSetting;

export const postgresDescriptor = {
  engine: 'postgres',
  urlSchemes: ['postgres', 'postgresql'],
  urlForms: ['postgres://'],
  ...networkUrlFormat('postgres', { port: 5432, user: 'postgres' }),
  toolSettings: [PG_DUMP, PG_RESTORE] as const,
} as const satisfies EngineDescriptor;

/** The configured pg_dump and pg_restore, their defaults filled in. */
export function postgresTools(tools: DumpTools): { pgDump: string; pgRestore: string } {
  return { pgDump: tools.pgDump ?? PG_DUMP.default, pgRestore: tools.pgRestore ?? PG_RESTORE.default };
}
