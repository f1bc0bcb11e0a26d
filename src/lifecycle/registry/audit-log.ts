import { hostname, userInfo } from 'node:os';
import type { Context } from '../../context/context.js';
import { maskUrlPasswords } from '../../core/url-passwords.js';
import { insertAuditRow, listAuditRows, type AuditOutcome } from '../../registry/audit-repo.js';
import { now } from '../../registry/tenants-repo.js';

export interface AuditEntry {
  command: string;
  /** The command line's arguments; URL passwords are masked before they are stored. */
  arguments: string[];
  tenant?: string | null;
  outcome: AuditOutcome;
  error?: string;
  /** Anything worth keeping: a run id, what changed. */
  detail?: unknown;
}

/** Options whose value is secret whatever it looks like. */
const SECRET_OPTIONS = new Set(['--secret-key']);

export function maskArguments(args: string[]): string[] {
  return args.map((arg, i) => (SECRET_OPTIONS.has(args[i - 1] ?? '') ? '********' : maskUrlPasswords(arg)));
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}

/** Writes one audit entry: when, what, by whom and where, for which tenant, and how it ended. */
export async function recordAudit(ctx: Context, entry: AuditEntry): Promise<void> {
  const registry = await ctx.registry();
  await insertAuditRow(registry.knex, {
    at: now(),
    command: entry.command,
    arguments: JSON.stringify(maskArguments(entry.arguments)),
    os_user: osUser(),
    host: hostname(),
    tenant: entry.tenant ?? null,
    outcome: entry.outcome,
    error: entry.error ?? null,
    detail: entry.detail === undefined ? null : JSON.stringify(entry.detail),
  });
}

export interface AuditRecord {
  id: number;
  at: string;
  command: string;
  arguments: string[];
  user: string;
  host: string;
  tenant: string | null;
  outcome: AuditOutcome;
  error: string | null;
  detail: unknown;
}

export async function readAuditLog(ctx: Context, tenant: string | undefined, limit: number): Promise<AuditRecord[]> {
  const registry = await ctx.registry();
  const rows = await listAuditRows(registry.knex, tenant, limit);
  return rows.map((row) => ({
    id: row.id,
    at: row.at,
    command: row.command,
    arguments: JSON.parse(row.arguments) as string[],
    user: row.os_user,
    host: row.host,
    tenant: row.tenant,
    outcome: row.outcome,
    error: row.error,
    detail: row.detail === null ? null : JSON.parse(row.detail),
  }));
}
