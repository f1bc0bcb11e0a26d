import type { Context } from '../../context/context.js';
import { ServerUnreachableError, UsageError, errorMessage } from '../../core/errors.js';
import { describeServer, serverAddress } from '../../engines/server-spec.js';
import { descriptorFor } from '../../engines/descriptors.js';
import { serverLabels, specFromRow, type ServerRow, type ServerStatus } from '../../registry/servers-repo.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';

/** Statuses whose tenant has (or is getting) a database on its server: what capacity counts. */
export const LIVE_STATUSES: TenantStatus[] = ['provisioning', 'adopting', 'active', 'suspended', 'deleting'];

/** A server as commands return it: every field but secrets. */
export interface ServerInfo {
  name: string;
  engine: string;
  /** `host:port`, or the SQLite directory. */
  address: string;
  /** The admin URL without its password. */
  url: string;
  /** Its TLS settings in the engine's URL words (`sslmode`, `sslrootcert`… / `ssl-mode`, `ssl-ca`…); null: none. */
  tls: Record<string, string> | null;
  /** The version string the server gave when last reached. */
  version: string | null;
  status: ServerStatus;
  labels: Record<string, string>;
  /** Most live tenants it takes; null: no limit. */
  maxTenants: number | null;
  weight: number;
  /** Its own limit of tenants worked on at once by fleet commands; null: the run's --concurrency. */
  concurrency: number | null;
  /** Live tenants (provisioning, active, suspended, deleting). */
  tenants: number;
  /** What the server says it is, as recorded (see `server update --accept-identity`); null until first reached. */
  identity: string | null;
  createdAt: string;
  updatedAt: string;
  checkedAt: string | null;
}

/** What `server list` and `server show` add by asking the server now. */
export interface ServerHealth {
  reachable: boolean;
  /** Why not, when unreachable. */
  error: string | null;
  /** Bytes of its live tenants' databases; null when unreachable. */
  bytes: number | null;
}

export function toServerInfo(row: ServerRow, tenants: number): ServerInfo {
  const spec = specFromRow(row);
  return {
    name: row.name,
    engine: row.engine,
    address: serverAddress(spec),
    url: describeServer(spec),
    tls: descriptorFor(row.engine).tlsParameters(spec),
    version: row.version,
    status: row.status,
    labels: serverLabels(row),
    maxTenants: row.max_tenants,
    weight: row.weight,
    concurrency: row.concurrency,
    tenants,
    identity: row.identity ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    checkedAt: row.checked_at,
  };
}

export function liveCount(counts: Record<string, number> | undefined): number {
  return LIVE_STATUSES.reduce((sum, status) => sum + (counts?.[status] ?? 0), 0);
}

/** Asks a server now whether it answers, and how much its tenants hold. */
export async function serverHealth(ctx: Context, row: ServerRow, databases: string[]): Promise<ServerHealth> {
  try {
    const handle = await ctx.server(row.id);
    const sizes = await handle.connection.databaseSizes(databases);
    return { reachable: true, error: null, bytes: [...sizes.values()].reduce((a, b) => a + b, 0) };
  } catch (error) {
    if (error instanceof ServerUnreachableError) return { reachable: false, error: error.reason, bytes: null };
    return { reachable: false, error: errorMessage(error), bytes: null };
  }
}

const SERVER_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

/** Server names are short and safe in a terminal, a file name and a Prometheus label. */
export function validateServerName(name: string): string {
  if (!SERVER_NAME.test(name)) {
    throw new UsageError(
      `invalid server name "${name}": use 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  return name;
}

/** Numeric server settings: whole numbers within bounds. */
export function validateSetting(what: string, value: number | null | undefined, min: number, max: number): void {
  if (value === undefined || value === null) return;
  if (!Number.isInteger(value) || value < min || value > max)
    throw new UsageError(`${what} must be a whole number from ${min} to ${max} (got ${value})`);
}
