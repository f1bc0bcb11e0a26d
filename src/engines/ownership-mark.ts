/**
 * The mark a registry leaves on every database it creates, restores or moves to (README
 * "Ownership marks"): `tenantctl:owner=<registry mark>`, where the registry mark is derived from
 * the registry's secret id (lock-names.ts) and cannot be turned back into it, so that a mark
 * readable by every user of the server gives no way to compute the registry's lock names.
 *
 * Where it lives is each driver's: PostgreSQL the database comment (with the migrations stamp,
 * postgres-stamp.ts); MySQL/MariaDB and SQLite a one-row table in the database itself (MARK_TABLE),
 * which every dump carries, so a restore or a move keeps it. Content checks (move's fingerprint)
 * leave the table out: it is tenantctl's, not the tenant's.
 */
export const OWNER_PREFIX = 'tenantctl:owner=';

/** The table that holds the mark on engines without database comments (MySQL/MariaDB: its comment too). */
export const MARK_TABLE = 'tenantctl_owner';

/** A registry mark: 32 hex digits. Anything else read from a server is no mark of ours to trust. */
export const MARK_PATTERN = /^[0-9a-f]{32}$/;

/** The registry mark in `text` (a database comment), or null. */
export function markIn(text: string | null | undefined): string | null {
  const match = text ? /(?:^|\s)tenantctl:owner=([0-9a-f]{32})(?:\s|$)/.exec(text) : null;
  return match ? match[1]! : null;
}
