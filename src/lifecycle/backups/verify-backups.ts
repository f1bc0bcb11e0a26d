import { randomBytes } from 'node:crypto';
import type { Context } from '../../context/context.js';
import { EnvironmentError, errorMessage } from '../../core/errors.js';
import type { FleetRun } from '../../core/fleet-run.js';
import { runPool } from '../../core/run-pool.js';
import { stoppedBy, stopping, untilCut, type RunInterrupt } from '../../core/run-interrupt.js';
import { plainBackup, type PlainBackup } from './backup-copy.js';
import { adminLogin, type TenantLogin, dumpToolsFrom } from '../../engines/engine-driver.js';
import { generatePassword } from '../../core/secrets.js';
import { latestGoodBackup, listBackupRows, type BackupRow } from '../../registry/backups-repo.js';
import { findTenantRow, listTenantRows } from '../../registry/tenants-repo.js';
import { serverLimit } from '../shared/fleet-servers.js';
import { parseRowCounts, rowCountDifferences } from './backup-row-counts.js';
import { ifTenantFree, openTenantLockPool } from '../shared/tenant-lock-pool.js';
import { runAdminSetup } from '../shared/admin-setup.js';
import { adminSetupOf } from '../../tenant-schema/admin-setup.js';
import { UserConsole } from '../../tenant-schema/user-console.js';

export interface VerifyOptions {
  /** Tenants whose backups to verify; default every tenant with a backup. */
  slugs?: string[];
  /** Every good backup, not only each tenant's latest. */
  allBackups?: boolean;
  /** Restore into a scratch database and compare row counts with those recorded with the backup. */
  restoreTest?: boolean;
  /** Stops the run early (the CLI's Ctrl-C and SIGTERM): see RunInterrupt. */
  interrupt?: RunInterrupt;
}

export interface VerifiedBackup {
  id: number;
  slug: string;
  file: string;
  ok: boolean;
  /** What is wrong, if anything. */
  problem?: string;
  /** For a restore test: tables and rows compared. */
  detail?: string;
  /** Not verified: the run was stopped first, or another tenantctl held the tenant (`problem` says which). */
  skipped?: boolean;
}

/** A fleet run whose outcomes are backups, not tenants: listed as `backups` (the name `--json` prints). */
export interface VerifyResult extends Omit<FleetRun<VerifiedBackup>, 'tenants'> {
  ok: boolean;
  backups: VerifiedBackup[];
  /** Stopped by the caller (the signal): backups not started are `skipped`. */
  interrupted?: string;
}

/**
 * Re-reads backup files: present, same sha256 as recorded, complete; optionally restorable. Each
 * tenant's latest backup is looked up again right before it is verified (a move or a backup since
 * the list was read made a newer one), and a restore test, which works on the tenant's server,
 * runs holding the tenant's lock, on the server the tenant lives on then.
 */
export async function verifyBackups(ctx: Context, options: VerifyOptions): Promise<VerifyResult> {
  const registry = await ctx.registry();
  let rows = await listBackupRows(registry.knex, {
    slugs: options.slugs?.length ? options.slugs : undefined,
    status: 'ok',
  });
  if (!options.allBackups) {
    const seen = new Set<string>();
    rows = rows.filter((row) => !seen.has(row.slug) && seen.add(row.slug));
  }
  const backups: VerifiedBackup[] = new Array(rows.length);
  // Each server within its own limit: restore tests load the tenant's server.
  const tenants = await listTenantRows(registry.knex, { slugs: [...new Set(rows.map((r) => r.slug))] });
  const serverOf = new Map(tenants.map((t) => [t.slug, t.server_id]));
  const limits = {
    keyOf: (row: BackupRow) => serverOf.get(row.slug) ?? 0,
    limitOf: serverLimit(ctx, tenants, ctx.config.concurrency),
  };
  const interrupt = options.interrupt;
  const locks = options.restoreTest ? await openTenantLockPool(ctx) : undefined;
  const verify = async (listed: BackupRow): Promise<VerifiedBackup> => {
    const row =
      options.allBackups || listed.tenant_id === null
        ? listed
        : ((await latestGoodBackup(registry.knex, listed.slug)) ?? listed);
    // Read from the store once: checked whole (decrypted, checksummed, readable), then restored.
    const checked = await checkedBackup(ctx, row).catch((error: unknown) => errorMessage(error));
    const problem = typeof checked === 'string' ? checked : undefined;
    let detail: string | undefined;
    let restoreProblem: string | undefined;
    try {
      if (typeof checked !== 'string' && options.restoreTest && row.tenant_id !== null) {
        [restoreProblem, detail] = await restoreTest(ctx, row, checked.file).catch((error) => [
          `restore test: ${errorMessage(error)}`,
          undefined,
        ]);
      }
    } finally {
      if (typeof checked !== 'string') checked.release();
    }
    const failure = problem ?? restoreProblem;
    return {
      id: row.id,
      slug: row.slug,
      file: row.file,
      ok: !failure,
      ...(failure ? { problem: failure } : {}),
      ...(detail ? { detail } : {}),
    };
  };
  const notDone = (row: BackupRow, problem: string): VerifiedBackup => ({
    id: row.id,
    slug: row.slug,
    file: row.file,
    ok: false,
    skipped: true,
    problem,
  });
  try {
    await runPool(
      rows,
      ctx.config.concurrency,
      async (row, index) => {
        const locked = locks && row.tenant_id !== null;
        backups[index] = await untilCut(
          locked
            ? ifTenantFree(
                locks,
                row.slug,
                () => verify(row),
                (holder) => notDone(row, holder),
              )
            : verify(row),
          interrupt?.cut,
          () => ({ ...notDone(row, `cut (${stoppedBy(interrupt)}) before it was verified`), skipped: false }),
        );
      },
      {
        ...limits,
        shouldStop: () => stopping(interrupt),
        onSkipped: (row, index) => (backups[index] = notDone(row, `not verified: stopped by ${stoppedBy(interrupt)}`)),
      },
    );
  } finally {
    await locks?.close();
  }
  const interrupted = stoppedBy(interrupt);
  return { ok: backups.every((b) => b.ok) && !interrupted, backups, ...(interrupted ? { interrupted } : {}) };
}

/** Returns what is wrong with a backup, or undefined. */
export async function checkFile(ctx: Context, row: BackupRow): Promise<string | undefined> {
  const checked = await checkedBackup(ctx, row);
  if (typeof checked === 'string') return checked;
  checked.release();
  return undefined;
}

/**
 * Reads a backup whole from its store (decrypted, checksummed: see plainBackup) and has the
 * engine's tool read the plain dump as a restore would: the dump as a file the tools can read, or
 * what is wrong with it. The caller releases it.
 */
export async function checkedBackup(ctx: Context, row: BackupRow): Promise<PlainBackup | string> {
  const plain = await plainBackup(ctx, row);
  if (typeof plain === 'string') return plain;
  try {
    const registry = await ctx.registry();
    const tenant = row.tenant_id !== null ? await findTenantRow(registry.knex, row.slug) : undefined;
    const driver = tenant ? (await ctx.server(tenant.server_id)).connection : undefined;
    if (!driver) return plain;
    const problem = await driver.checkDump(plain.file, dumpToolsFrom(ctx.config)).then(
      () => undefined,
      // A missing tool says nothing about the file: that is the machine's problem, raised as such.
      (error) => (error instanceof EnvironmentError ? Promise.reject(error) : `unreadable: ${errorMessage(error)}`),
    );
    if (problem === undefined) return plain;
    plain.release();
    return problem;
  } catch (error) {
    plain.release();
    throw error;
  }
}

/**
 * Restores the backup into a scratch database on the tenant's server, compares every table's row
 * count with the counts recorded when the backup was taken (writes since then do not matter), and
 * drops the scratch database whatever happens. The scratch copy gets a throwaway user of its own
 * (where the engine has users), which restores and counts it: what the backup holds runs with
 * that user's rights on the scratch database only. A backup recorded without counts (taken by an
 * older tenantctl) is only checked to restore.
 */
async function restoreTest(ctx: Context, row: BackupRow, file: string): Promise<[string | undefined, string]> {
  const registry = await ctx.registry();
  const tenant = await findTenantRow(registry.knex, row.slug);
  if (!tenant) return ['the tenant is no longer in the registry', ''];
  const server = (await ctx.server(tenant.server_id)).connection;
  const scratch = `tenantctl_verify_${randomBytes(4).toString('hex')}`;
  const users = server.users;
  const password = generatePassword();
  const login: TenantLogin = users
    ? {
        database: scratch,
        user: scratch,
        open: async () => ({ user: scratch, passwords: [password], release: async () => {} }),
      }
    : adminLogin(scratch);
  await server.createDatabase(scratch);
  try {
    if (users) await users.createUser(scratch, password, scratch);
    // As for a real restore: what only the admin may do (an extension) is there first.
    const setup = await adminSetupOf(ctx);
    if (setup) {
      const target = { ...tenant, database: scratch, user: users ? scratch : null };
      await new UserConsole().run(() => runAdminSetup(ctx, server, target, setup));
    }
    await server.restore(login, file, dumpToolsFrom(ctx.config));
    const restored = await server.rowCounts(login);
    const recorded = parseRowCounts(row.row_counts ?? null);
    const differences = recorded ? rowCountDifferences(recorded, restored) : [];
    const rows = Object.values(restored).reduce((a, b) => a + b, 0);
    const detail = `${Object.keys(restored).length} tables, ${rows} rows restored${recorded ? ', as recorded' : ' (no row counts recorded with this backup)'}`;
    return [differences.length ? `row counts differ: ${differences.join('; ')}` : undefined, detail];
  } finally {
    await server.dropDatabase(scratch);
    if (users) await users.dropUser(scratch);
  }
}
