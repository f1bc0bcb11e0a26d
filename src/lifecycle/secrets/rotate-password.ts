import type { Context } from '../../context/context.js';
import { ConflictError, LockedError, OperationError, UsageError, errorMessage } from '../../core/errors.js';
import { ignoreProgress, progressCounter, type FleetProgress, type FleetRun } from '../../core/fleet-run.js';
import { runPool } from '../../core/run-pool.js';
import { stoppedBy, stopping, untilCut, type RunInterrupt } from '../../core/run-interrupt.js';
import { generatePassword, keyFingerprint, redact } from '../../core/secrets.js';
import { now, updateTenantRow, type TenantRow } from '../../registry/tenants-repo.js';
import { loadTenantRow } from '../shared/load-tenant.js';
import { selectTenants, WITH_DATABASE, type TenantSelection } from '../shared/select-tenants.js';
import { serverLimit } from '../shared/fleet-servers.js';
import { withTenantLock } from '../shared/tenant-lock.js';

export interface RotatePasswordOptions extends TenantSelection {
  /** Tenants worked on at once. */
  concurrency: number;
  /** End the user's open sessions after the change (default: they stay, logged in as before). */
  endSessions?: boolean;
  /** Stops the run early (the CLI's Ctrl-C and SIGTERM): see RunInterrupt. */
  interrupt?: RunInterrupt;
}

/** `busy`: another tenantctl held the tenant's lock; `skipped`: nothing to rotate, or not started (stopped). */
export type PasswordOutcomeKind = 'rotated' | 'skipped' | 'failed' | 'busy';

export interface PasswordRotationOutcome {
  slug: string;
  server: string;
  outcome: PasswordOutcomeKind;
  /** True when this finished a rotation an earlier run recorded but did not complete. */
  finished?: boolean;
  /** Why a tenant was skipped, or the error it failed with (never a password). */
  reason?: string;
  error?: string;
  durationMs: number;
}

export interface RotatePasswordResult extends FleetRun<PasswordRotationOutcome, PasswordOutcomeKind> {
  ok: boolean;
  total: number;
  counts: Record<PasswordOutcomeKind, number>;
  tenants: PasswordRotationOutcome[];
  durationMs: number;
  /** Stopped by the caller (the signal): tenants not started are `skipped`. */
  interrupted?: string;
}

/**
 * Gives one tenant's database user a new generated password, as one recorded step: the new
 * password is stored encrypted as pending before the server changes, then set on the server,
 * then made the tenant's password. A run killed in between left the pending one recorded: the
 * next run sets that same password again (harmless if the server already has it) and finishes.
 * Open sessions stay unless `endSessions`. Returns `skipped` where there is no user of its own.
 */
export async function rotateTenantPassword(
  ctx: Context,
  slug: string,
  options: { endSessions?: boolean } = {},
): Promise<Omit<PasswordRotationOutcome, 'server' | 'durationMs'>> {
  return withTenantLock(ctx, slug, async () => {
    const registry = await ctx.registry();
    const row = await loadTenantRow(ctx, slug);
    if (!WITH_DATABASE.includes(row.status))
      throw new ConflictError(
        `tenant "${slug}" is ${row.status}: only an active or suspended tenant has a password to rotate`,
      );
    if (row.step) throw new ConflictError(`tenant "${slug}" is in the middle of "${row.step}": finish that first`);
    const server = (await ctx.server(row.server_id)).connection;
    const users = server.users;
    if (!users)
      return { slug, outcome: 'skipped', reason: `${server.driver.engine} has no database users: nothing to rotate` };
    if (!row.database_user)
      return {
        slug,
        outcome: 'skipped',
        reason: 'the tenant shares the server credentials: rotate those on the server',
      };

    await assertCurrentKey(ctx, row);
    let pending = row.password_pending_enc ?? null;
    const finished = pending !== null;
    if (pending === null) {
      pending = await ctx.withEncrypted(generatePassword(), async (encrypted) => {
        await updateTenantRow(registry.knex, row.id, { password_pending_enc: encrypted, key_fingerprint: null });
        return encrypted!;
      });
    }
    const password = await ctx.decrypt(pending);
    try {
      await users.setPassword(row.database_user, password, { endSessions: options.endSessions });
    } catch (error) {
      throw new OperationError(
        slug,
        'set password',
        new Error(redact(errorMessage(error), [password])),
        'run rotate-password again to finish it',
      );
    }
    await updateTenantRow(registry.knex, row.id, {
      password_enc: pending,
      password_pending_enc: null,
      password_changed_at: now(),
    });
    return { slug, outcome: 'rotated', finished };
  });
}

/** A row under another key than this run's (a key rotation under way) must not get a secret of ours mixed in. */
async function assertCurrentKey(ctx: Context, row: TenantRow): Promise<void> {
  const mine = keyFingerprint((await ctx.secretKey()).key);
  if (row.key_fingerprint && row.key_fingerprint !== mine) {
    throw new UsageError(
      `tenant "${row.slug}" has secrets under key ${row.key_fingerprint}, not this run's: finish the key rotation (rotate-key) first`,
    );
  }
}

/**
 * Rotates the selected tenants' passwords, `concurrency` at a time and each server within its own limit; a failure
 * does not stop the others. Each tenant is rotated under its lock, from its row as it is then (see
 * rotateTenantPassword); one another tenantctl holds is `busy`.
 */
export async function rotatePasswords(
  ctx: Context,
  options: RotatePasswordOptions,
  onProgress: (progress: FleetProgress) => void = ignoreProgress,
): Promise<RotatePasswordResult> {
  const started = Date.now();
  const tenants = await selectTenants(ctx, options, 'rotate-password');
  const outcomes: PasswordRotationOutcome[] = new Array(tenants.length);
  const counts: Record<PasswordOutcomeKind, number> = { rotated: 0, skipped: 0, failed: 0, busy: 0 };
  const progress = progressCounter(tenants.length, onProgress, started);
  const interrupt = options.interrupt;
  const settle = (index: number, outcome: PasswordRotationOutcome) => {
    counts[outcome.outcome]++;
    outcomes[index] = outcome;
    progress(outcome.outcome === 'failed');
  };
  await runPool(
    tenants,
    options.concurrency,
    async (tenant, index) => {
      const began = Date.now();
      let outcome: Omit<PasswordRotationOutcome, 'server' | 'durationMs'>;
      try {
        // A cut rotation is one recorded step left pending: the next run (or doctor --fix) finishes it.
        outcome = await untilCut(
          rotateTenantPassword(ctx, tenant.slug, { endSessions: options.endSessions }),
          interrupt?.cut,
          () => ({
            slug: tenant.slug,
            outcome: 'failed',
            error: `cut (${stoppedBy(interrupt)}): run rotate-password ${tenant.slug} again to finish it`,
          }),
        );
      } catch (error) {
        outcome = {
          slug: tenant.slug,
          outcome: error instanceof LockedError ? 'busy' : 'failed',
          error: errorMessage(error),
        };
      }
      settle(index, { ...outcome, server: tenant.server_name, durationMs: Date.now() - began });
    },
    {
      keyOf: (tenant) => tenant.server_id,
      limitOf: serverLimit(ctx, tenants, options.concurrency),
      shouldStop: () => stopping(interrupt),
      onSkipped: (tenant, index) =>
        settle(index, {
          slug: tenant.slug,
          server: tenant.server_name,
          outcome: 'skipped',
          reason: `not started: stopped by ${stoppedBy(interrupt)}`,
          durationMs: 0,
        }),
    },
  );
  const interrupted = stoppedBy(interrupt);
  return {
    ok: counts.failed === 0 && counts.busy === 0 && !interrupted,
    total: tenants.length,
    counts,
    tenants: outcomes,
    durationMs: Date.now() - started,
    ...(interrupted ? { interrupted } : {}),
  };
}
