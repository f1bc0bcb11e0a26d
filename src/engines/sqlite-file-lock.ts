import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite } from './sqlite-native.js';
import type { HeldLock } from './engine-driver.js';
import { sleep } from './lock-helpers.js';

/**
 * Where the embedded registry's locks live: `<registry file>-locks/`, one small file per lock
 * name. The files are never removed: unlinking a lock file while another process has it open
 * would let two processes lock two different files of the same name.
 */
export function lockDirectoryFor(registryFile: string): string {
  return `${registryFile}-locks`;
}

/** `tenantctl:tenant:acme` → `tenantctl_tenant_acme-1f2e3d4c.lock`: readable, and never two names in one file. */
function lockFileName(name: string): string {
  const readable = name.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 100);
  return `${readable}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}.lock`;
}

/**
 * Takes a named lock that the operating system holds for this process: an exclusive transaction
 * on a lock file of its own (SQLite's POSIX record locks). The kernel drops it when the process
 * exits — finished, crashed or killed with kill -9, before a parent reaps it, so a zombie holds
 * nothing — and a recycled pid cannot inherit it. It is never taken from a live holder, and a
 * child process (pg_dump) does not inherit it. Within one process SQLite keeps two connections
 * to one file apart too. Resolves undefined if it is still held when `waitMs` runs out.
 */
export async function tryFileLock(directory: string, name: string, waitMs: number): Promise<HeldLock | undefined> {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  // timeout 0: a busy lock answers at once; waiting is ours to do, so that waitMs holds.
  const db = openSqlite(join(directory, lockFileName(name)), { timeout: 0 });
  const deadline = Date.now() + waitMs;
  try {
    for (;;) {
      try {
        db.exec('begin exclusive');
        break;
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
      }
      if (Date.now() >= deadline) {
        db.close();
        return undefined;
      }
      await sleep(Math.min(200, Math.max(1, deadline - Date.now())));
    }
  } catch (error) {
    db.close();
    throw error;
  }
  return {
    release: async () => {
      if (!db.open) return;
      if (db.inTransaction) db.exec('rollback');
      db.close();
    },
  };
}
