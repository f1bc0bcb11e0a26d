import knexFactory from 'knex';
import type { Context } from '../../context/context.js';
import { RegistryKeyError, errorMessage } from '../../core/errors.js';
import { runPool } from '../../core/run-pool.js';
import { redact } from '../../core/secrets.js';
import type { ServerRow } from '../../registry/servers-repo.js';
import type { TenantRow } from '../../registry/tenants-repo.js';
import type { NewFinding } from './findings.js';
import { serverLimit } from '../shared/fleet-servers.js';
import { WITH_DATABASE } from '../shared/select-tenants.js';

/**
 * What doctor finds about tenant passwords: older than `maxAgeHours` (`stale_password`), a
 * rotation that was killed before it finished (`interrupted`), and a stored password the server
 * no longer accepts (`password_login_fails`), found by logging in as the tenant's user as the
 * application would. Suspended tenants cannot log in by design and are not tried.
 */
export async function secretFindings(
  ctx: Context,
  rows: TenantRow[],
  servers: ServerRow[],
  maxAgeHours: number,
): Promise<NewFinding[]> {
  const findings: NewFinding[] = [];
  const serverName = new Map(servers.map((s) => [s.id, s.name]));
  const withPassword = rows.filter(
    (r) => WITH_DATABASE.includes(r.status) && r.step === null && r.database_user && r.password_enc,
  );
  const oldest = Date.now() - maxAgeHours * 3600_000;
  for (const t of withPassword) {
    const server = serverName.get(t.server_id) ?? null;
    if (t.password_pending_enc) {
      const lock = await (await ctx.registry()).tryLock(`tenantctl:tenant:${t.slug}`, 0);
      if (!lock) continue; // being rotated right now
      await lock.release();
      findings.push({
        kind: 'interrupted',
        operation: 'rotate-password',
        tenant: t.slug,
        server,
        message: 'password rotation was interrupted',
        autoFix: true,
      });
    } else if (t.password_changed_at && Date.parse(t.password_changed_at) < oldest) {
      const days = Math.floor((Date.now() - Date.parse(t.password_changed_at)) / 86_400_000);
      findings.push({
        kind: 'stale_password',
        tenant: t.slug,
        server,
        message: `password last changed ${days} days ago (${t.password_changed_at})`,
      });
    }
  }

  const toTry = withPassword.filter((t) => t.status === 'active' && !t.password_pending_enc);
  const limitOf = serverLimit(
    ctx,
    servers.map((s) => ({ server_id: s.id, server_concurrency: s.concurrency })),
    ctx.config.concurrency,
  );
  await runPool(
    toTry,
    ctx.config.concurrency,
    async (t) => {
      const finding = await loginFinding(ctx, t);
      if (finding) findings.push(finding);
    },
    { keyOf: (t) => t.server_id, limitOf },
  );
  return findings;
}

/**
 * `password_login_fails` when the tenant's stored password does not log in as its user. Nothing
 * when its server cannot be reached or the password is under a key this machine lacks: both are
 * reported on their own.
 */
async function loginFinding(ctx: Context, t: TenantRow): Promise<NewFinding | undefined> {
  let handle;
  try {
    handle = await ctx.server(t.server_id);
    await handle.version();
  } catch {
    return undefined; // an unreachable server is reported on its own
  }
  let password: string;
  try {
    password = await ctx.decrypt(t.password_enc!);
  } catch (error) {
    // Under a key this machine lacks: an interrupted rotation, which doctor reports on its own.
    if (error instanceof RegistryKeyError) return undefined;
    throw error;
  }
  const knex = knexFactory(handle.connection.tenantUserKnexConfig(t.database_name, t.database_user!, password));
  try {
    await knex.raw('select 1');
    return undefined;
  } catch (error) {
    const message = `the stored password does not log in as "${t.database_user}": ${redact(errorMessage(error), [password])}`;
    return { kind: 'password_login_fails', tenant: t.slug, server: handle.row.name, message };
  } finally {
    await knex.destroy();
  }
}
