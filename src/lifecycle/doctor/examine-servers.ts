/** Doctor's checks per server: reachable, orphans, missing databases and users, access against status, dump tools. */
import type { Context } from '../../context/context.js';
import { ServerIdentityError, errorMessage } from '../../core/errors.js';
import { dumpToolsFrom, type ServerConnection } from '../../engines/engine-driver.js';
import type { ServerRow } from '../../registry/servers-repo.js';
import type { TenantRow } from '../../registry/tenants-repo.js';
import { WITH_DATABASE } from '../shared/select-tenants.js';
import type { FleetView } from './fleet-view.js';
import type { FindingList } from './findings.js';

/** Names a naming template can produce: `tenant_{slug}` → /^tenant_[a-z][a-z0-9_]*$/. */
function templatePattern(template: string): RegExp {
  // A `{meta.<key>}` part is any identifier text (the metadata value).
  const [before, after] = template.split('{slug}').map((part) =>
    part
      .split(/\{meta\.[A-Za-z0-9_.-]{1,64}\}/)
      .map((text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('[a-z0-9_]+'),
  );
  return new RegExp(`^${before}[a-z][a-z0-9_]*${after ?? ''}$`);
}

/** One server's findings. An unreachable one is reported, and its tenants are not judged from here. */
export async function examineServer(
  ctx: Context,
  fleet: FleetView,
  serverRow: ServerRow,
  list: FindingList,
): Promise<void> {
  const tenantsHere = fleet.rows.filter((r) => r.server_id === serverRow.id);
  const handle = fleet.handles.get(serverRow.id);
  if (!handle) {
    const error = fleet.failures.get(serverRow.id);
    const live = tenantsHere.filter((r) => r.status !== 'deleted').length;
    list.add({
      kind: error instanceof ServerIdentityError ? 'server_identity' : 'server_unreachable',
      target: { type: 'server', name: serverRow.name },
      tenant: null,
      server: serverRow.name,
      message: `${errorMessage(error)}; ${live} tenant${live === 1 ? '' : 's'} not checked`,
    });
    return;
  }
  const server = handle.connection;
  const [databases, users] = await Promise.all([server.listDatabases(), server.users?.listUsers() ?? []]);
  // One tenant examined (`doctor <slug>`): the view holds no other tenant, so none are orphans.
  if (!fleet.only) await findOrphans(ctx, fleet, serverRow, server, { databases, users }, list);
  const present = new Set(databases);
  const presentUsers = new Set(users);
  const live = tenantsHere.filter((r) => WITH_DATABASE.includes(r.status) && r.step === null);
  await findUnmarked(
    fleet,
    serverRow,
    server,
    live.filter((t) => present.has(t.database_name)),
    list,
  );
  for (const t of tenantsHere.filter((r) => WITH_DATABASE.includes(r.status) && r.step === null)) {
    if (!present.has(t.database_name)) {
      list.add({
        kind: 'missing_database',
        tenant: t.slug,
        server: serverRow.name,
        message: `${t.status} tenant's database "${t.database_name}" does not exist`,
      });
      continue;
    }
    if (t.database_user && !presentUsers.has(t.database_user)) {
      list.add({
        kind: 'missing_user',
        tenant: t.slug,
        server: serverRow.name,
        message: `tenant's database user "${t.database_user}" does not exist`,
      });
      continue;
    }
    await checkAccess(server, serverRow, t, list);
  }
  const toolProblem = await server.checkDumpTools(dumpToolsFrom(ctx.config));
  if (toolProblem)
    list.add({
      kind: 'dump_tool',
      target: { type: 'server', name: serverRow.name },
      tenant: null,
      server: serverRow.name,
      message: toolProblem,
    });
}

/**
 * Databases and users that follow the naming templates but belong to no tenant (whatever server
 * row the tenant was registered through: it is this server's if the server is one) and no move.
 * A database is an orphan only when it is this registry's: it carries its mark, or carries none
 * and the registry recorded it (a deleted or failed tenant's, made before marks); any other is
 * another registry's or nobody's, `foreign_database`, and left alone. `--fix` drops orphans only
 * with --drop-orphans, which sets their autoFix.
 */
async function findOrphans(
  ctx: Context,
  fleet: FleetView,
  serverRow: ServerRow,
  server: ServerConnection,
  names: { databases: string[]; users: string[] },
  list: FindingList,
): Promise<void> {
  const livesHere = fleet.rows.filter((r) => r.status !== 'deleted' && fleet.alike(r.server_id, serverRow.id));
  const known = new Set(livesHere.map((r) => r.database_name));
  const knownUsers = new Set(livesHere.filter((r) => r.database_user).map((r) => r.database_user!));
  for (const held of fleet.movedHere.filter((h) => fleet.alike(h.serverId, serverRow.id))) {
    known.add(held.database);
    if (held.user) knownUsers.add(held.user);
  }
  const dbPattern = templatePattern(ctx.config.databaseNameTemplate);
  const userPattern = templatePattern(ctx.config.userNameTemplate);
  // Names the engine keeps for itself (and tenantctl's own mark) are never a tenant's, whatever the template.
  const ours = (name: string) => !server.driver.isReservedName(name);
  const candidates = names.databases.filter((d) => dbPattern.test(d) && ours(d) && !known.has(d));
  const owned = await ownedDatabases(fleet, serverRow, server, candidates);
  for (const db of candidates.filter((d) => !owned.has(d))) {
    list.add({
      kind: 'foreign_database',
      target: { type: 'database', server: serverRow.name, name: db },
      tenant: null,
      server: serverRow.name,
      message: `database "${db}" matches the naming template, belongs to another registry or to none; left alone`,
    });
  }
  // This registry's mark, yet no row of any status: a tenant the registry lost (a registry
  // restored from a backup older than its create). Adopted back, not dropped.
  const recorded = new Set(
    fleet.rows.filter((r) => fleet.alike(r.server_id, serverRow.id)).map((r) => r.database_name),
  );
  const mark = await fleet.registry.mark();
  const marks = owned.size ? await server.readMarks([...owned]) : new Map<string, string | null>();
  const unregistered = new Set([...owned].filter((db) => !recorded.has(db) && marks.get(db) === mark));
  const { databaseNameTemplate, userNameTemplate } = ctx.config;
  const unregisteredUsers = new Set<string>();
  for (const db of unregistered) {
    const slug = slugIn(databaseNameTemplate, db);
    const user = slug && server.users ? userNameTemplate.replace('{slug}', slug) : null;
    const userHere = user !== null && names.users.includes(user) ? user : null;
    if (userHere) unregisteredUsers.add(userHere);
    list.add({
      kind: 'unregistered_database',
      target: { type: 'database', server: serverRow.name, name: db },
      tenant: null,
      server: serverRow.name,
      message: `database "${db}" carries this registry's ownership mark but no tenant has it (created after the registry's backup?)${slug ? `; adopt it back as "${slug}"` : ''}${userHere ? ` with its user "${userHere}"` : ''}`,
      ...(slug
        ? {
            adopt: {
              slug,
              user: userHere,
              createUser: !userHere && server.users !== undefined && ctx.config.tenantUsers,
            },
          }
        : {}),
    });
  }
  for (const db of candidates.filter((d) => owned.has(d) && !unregistered.has(d))) {
    list.add({
      kind: 'orphan_database',
      target: { type: 'database', server: serverRow.name, name: db },
      tenant: null,
      server: serverRow.name,
      message: `database "${db}" follows the naming template but belongs to no tenant`,
    });
  }
  // An unregistered database's user goes back with it (adopt --user): no orphan.
  const users = names.users.filter(
    (u) => userPattern.test(u) && ours(u) && !knownUsers.has(u) && !unregisteredUsers.has(u),
  );
  findOrphanUsers(ctx, fleet, serverRow, { users, ownedDatabases: owned }, list);
}

/**
 * Users of the user template that belong to no tenant: orphans when this registry recorded them
 * (a failed or deleted tenant's) or their database by the templates (same slug) is this
 * registry's; any other is `foreign_user`, another registry's or nobody's, left alone.
 */
function findOrphanUsers(
  ctx: Context,
  fleet: FleetView,
  serverRow: ServerRow,
  names: { users: string[]; ownedDatabases: Set<string> },
  list: FindingList,
): void {
  const recorded = new Set(
    fleet.rows.filter((r) => r.database_user && fleet.alike(r.server_id, serverRow.id)).map((r) => r.database_user),
  );
  const { databaseNameTemplate, userNameTemplate } = ctx.config;
  for (const user of names.users) {
    const slug = slugIn(userNameTemplate, user);
    const ours =
      recorded.has(user) || (slug !== null && names.ownedDatabases.has(databaseNameTemplate.replace('{slug}', slug)));
    list.add({
      kind: ours ? 'orphan_user' : 'foreign_user',
      target: { type: 'user', server: serverRow.name, name: user },
      tenant: null,
      server: serverRow.name,
      message: ours
        ? `database user "${user}" follows the naming template but belongs to no tenant`
        : `database user "${user}" matches the naming template, belongs to another registry or to none; left alone`,
    });
  }
}

/** The slug a name made by `template` holds, or null. */
function slugIn(template: string, name: string): string | null {
  const [before, after] = template.split('{slug}');
  if (after === undefined || !name.startsWith(before!) || !name.endsWith(after)) return null;
  return name.slice(before!.length, name.length - after.length) || null;
}

/**
 * Tenants' databases without this registry's mark (created before marks, or the mark removed):
 * a notice, and `--fix` marks them, so that another registry on the server sees them as foreign.
 * One query per server.
 */
async function findUnmarked(
  fleet: FleetView,
  serverRow: ServerRow,
  server: ServerConnection,
  tenants: TenantRow[],
  list: FindingList,
): Promise<void> {
  if (tenants.length === 0) return;
  const [mark, marks] = await Promise.all([
    fleet.registry.mark(),
    server.readMarks(tenants.map((t) => t.database_name)),
  ]);
  for (const t of tenants.filter((row) => marks.get(row.database_name) !== mark)) {
    const other = marks.get(t.database_name);
    list.add(
      {
        kind: 'unmarked_database',
        severity: other ? 'problem' : 'notice',
        tenant: t.slug,
        server: serverRow.name,
        message: other
          ? `tenant's database "${t.database_name}" carries another registry's mark`
          : `tenant's database "${t.database_name}" carries no ownership mark (made before marks)`,
        // Another registry's mark is an operator's question (two registries claim one database), not a repair.
        autoFix: !other,
      },
      other ? undefined : () => server.markDatabase(t.database_name, mark),
    );
  }
}

/**
 * Which of `databases` are this registry's: those with its mark, and unmarked ones it recorded
 * on this server (under any of its names) for a tenant of any status.
 */
async function ownedDatabases(
  fleet: FleetView,
  serverRow: ServerRow,
  server: ServerConnection,
  databases: string[],
): Promise<Set<string>> {
  if (databases.length === 0) return new Set();
  const [mark, marks] = await Promise.all([fleet.registry.mark(), server.readMarks(databases)]);
  const recorded = new Set(
    fleet.rows.filter((r) => fleet.alike(r.server_id, serverRow.id)).map((r) => r.database_name),
  );
  return new Set(databases.filter((db) => marks.get(db) === mark || (!marks.get(db) && recorded.has(db))));
}

/** Whether a tenant's access matches its status: a suspended one locked out (its jobs too), an active one not. */
async function checkAccess(server: ServerConnection, serverRow: ServerRow, t: TenantRow, list: FindingList) {
  const suspended = await server.accessSuspended(t.database_name, t.database_user);
  if (t.status === 'suspended' && !suspended && (t.database_user || server.driver.suspendsWithoutUser)) {
    list.add({
      kind: 'suspended_can_login',
      tenant: t.slug,
      server: serverRow.name,
      message: 'suspended tenant can still reach its database',
      autoFix: true,
    });
  }
  // Locked out, yet its scheduled jobs (MySQL events) still run and write: not suspended either.
  const jobs = t.status === 'suspended' && suspended ? await server.scheduledJobs?.enabledJobs(t.database_name) : [];
  if (jobs && jobs.length > 0) {
    list.add({
      kind: 'suspended_can_login',
      tenant: t.slug,
      server: serverRow.name,
      message: `suspended tenant's scheduled jobs still run: ${jobs.join(', ')}`,
      autoFix: true,
    });
  }
  if (t.status === 'active' && suspended) {
    list.add({
      kind: 'active_locked_out',
      tenant: t.slug,
      server: serverRow.name,
      message: 'active tenant cannot reach its database (its access is locked)',
    });
  }
}
