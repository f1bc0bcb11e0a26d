import { createHash } from 'node:crypto';
import type { Context, ServerHandle } from '../../context/context.js';
import { TenantctlError, errorMessage } from '../../core/errors.js';
import { fingerprintDifferences } from '../../engines/content-fingerprint.js';
import {
  dumpToolsFrom,
  usersOf,
  type OnlineMoves,
  type TenantLogin,
  type WriteMarks,
} from '../../engines/engine-driver.js';
import { updateMoveRow, type MoveRow, type MoveStep } from '../../registry/moves-repo.js';
import { now, type TenantRow } from '../../registry/tenants-repo.js';
import { adminSetupOf } from '../../tenant-schema/admin-setup.js';
import { UserConsole } from '../../tenant-schema/user-console.js';
import { runAdminSetup } from '../shared/admin-setup.js';

/** Catching up ends (and the fence begins) once the target is this close behind the source. */
const CATCHUP_LAG_BYTES = 1 << 20;
/** How often catching up looks again. */
const CATCHUP_POLL_MS = 100;
/** Inside the fence, the target must have applied the source's last changes within this. */
const DRAIN_TIMEOUT_MS = 30_000;

/**
 * What the online move's `compare` step found, for the verify step inside the fence: where both
 * copies' content was compared already, the fence re-checks rows, sequences and migrations only,
 * and counts again only the tables written since. Kept in memory: a move resumed after a kill
 * inside the fence compares content again.
 */
export interface LiveCheck {
  compared: boolean;
  /** How long the source's writes paused for the comparison's snapshots. */
  pausedMs?: number;
  /** Why content is compared inside the fence instead (a lock or catch-up limit was hit). */
  skipped?: string;
  /** The source's write marks and row counts at the comparison's point. */
  marks?: WriteMarks;
  rows?: Record<string, number>;
  /** Filled inside the fence: the row counts that still hold (tables unwritten since the comparison). */
  known?: Record<string, number>;
}

export interface OnlineParts {
  tenant: TenantRow;
  move: MoveRow;
  source: ServerHandle;
  target: ServerHandle;
  password: string | null;
  sourceLogin: TenantLogin;
  targetLogin: TenantLogin;
  /** Filled by the `compare` step. */
  live: LiveCheck;
}

/**
 * The name of the move's replication objects on both servers: derived from the registry's mark
 * and the move's id, so a later run finds a killed run's objects, and two registries sharing a
 * server never pick the same.
 */
export async function replicationName(ctx: Context, move: Pick<MoveRow, 'id'>): Promise<string> {
  return `${await replicationPrefix(ctx)}${move.id}`;
}

/** What every replication object of this registry's moves is named with first (doctor looks for it). */
export async function replicationPrefix(ctx: Context): Promise<string> {
  const mark = await (await ctx.registry()).mark();
  return `tenantctl_move_${createHash('sha256').update(mark).digest('hex').slice(0, 10)}_`;
}

function capability(server: ServerHandle): OnlineMoves {
  const online = server.connection.onlineMoves;
  if (!online) throw new TenantctlError(`server "${server.row.name}" has no online move`);
  return online;
}

const fullTablesOf = (move: Pick<MoveRow, 'replica_full'>): string[] =>
  move.replica_full ? (JSON.parse(move.replica_full) as string[]) : [];

/**
 * The online move's steps up to the copy being verified: the initial copy (PostgreSQL `schema`:
 * the schema, whose rows the subscription copies while the tenant works; MySQL `snapshot`: a
 * consistent snapshot of schema and rows with its binlog position), the source published and the
 * target replicating from there, caught up, both copies' content compared at one point while the
 * tenant works, then the fence, the last changes and the sequences, and
 * the replication removed.
 */
export function onlineSteps(ctx: Context, parts: OnlineParts): Array<[MoveStep, () => Promise<void>]> {
  const { tenant, move, source, target, password, sourceLogin, targetLogin, live } = parts;
  const named = replicationName(ctx, move);
  // Where replication starts, as the initial copy found it. Kept in memory only: a move killed
  // before it is replicating is rolled back and started afresh, never resumed.
  let start: string | null = null;
  return [
    [
      capability(source).dumpsInitialCopy ? 'snapshot' : 'schema',
      async () => {
        const registry = await ctx.registry();
        await target.connection.createDatabase(move.target_database);
        await target.connection.markDatabase(move.target_database, await registry.mark());
        if (move.target_user)
          await usersOf(target.connection).createUser(move.target_user, password!, move.target_database);
        // The copy stays locked until the unfence: never two copies accepting logins.
        await target.connection.suspendAccess(move.target_database, move.target_user);
        // What only the admin may do (an extension the schema names) is done on the target first.
        const setup = await adminSetupOf(ctx);
        if (setup) {
          const onTarget = { ...tenant, database: move.target_database, user: move.target_user };
          await new UserConsole().run(() => runAdminSetup(ctx, target.connection, onTarget, setup));
        }
        start = await capability(source).initialCopy(
          sourceLogin,
          target.connection,
          targetLogin,
          dumpToolsFrom(ctx.config),
          ctx.config.backupDir,
        );
        await target.connection.markDatabase(move.target_database, await registry.mark());
      },
    ],
    [
      'replicate',
      async () => {
        const registry = await ctx.registry();
        const name = await named;
        const full = await capability(source).tablesWithoutKey(move.source_database);
        // Recorded before they change, so that a killed move's cleanup gives them theirs back.
        move.replica_full = JSON.stringify(full);
        await updateMoveRow(registry.knex, move.id, { replica_full: move.replica_full });
        const connection = await capability(source).publish(name, move.source_database, tenant.database_user!, full);
        await capability(target).subscribe(name, move.target_database, connection, start);
      },
    ],
    [
      'catchup',
      async () => {
        const name = await named;
        for (;;) {
          const [copying, lag] = await Promise.all([
            capability(target).tablesCopying(name, move.target_database),
            capability(source).lagBytes(name, target.connection),
          ]);
          if (lag === null) throw new TenantctlError(`the move's replication "${name}" is gone`);
          if (copying === 0 && lag <= CATCHUP_LAG_BYTES) return;
          await new Promise((resolve) => setTimeout(resolve, CATCHUP_POLL_MS));
        }
      },
    ],
    [
      'compare',
      async () => {
        const found = await capability(source).compareLive(await named, sourceLogin, target.connection, targetLogin);
        if ('skipped' in found) {
          live.skipped = found.skipped;
          return;
        }
        // Sequences move on without a write lock: they are set and compared inside the fence.
        const problems = fingerprintDifferences(
          { tables: found.source.tables, sequences: {} },
          { tables: found.target.tables, sequences: {} },
        );
        if (problems.length)
          throw new TenantctlError(`the copy does not match the source (compared live): ${problems.join('; ')}`);
        live.compared = true;
        live.pausedMs = found.pausedMs;
        live.marks = found.marks;
        live.rows = Object.fromEntries(Object.entries(found.source.tables).map(([t, { rows }]) => [t, rows]));
      },
    ],
    [
      'fence',
      async () => {
        const registry = await ctx.registry();
        await capability(source).fence(await named, move.source_database, move.source_user!);
        const fencedAt = now();
        move.fenced_at = fencedAt;
        await updateMoveRow(registry.knex, move.id, { fenced_at: fencedAt });
      },
    ],
    [
      'drain',
      async () => {
        await capability(source).awaitApplied(await named, target.connection, DRAIN_TIMEOUT_MS);
        await capability(source).copySequences(sourceLogin, target.connection, targetLogin);
        if (live.compared && live.marks && live.rows) {
          const unwritten = await capability(source).unwrittenSince(sourceLogin, live.marks);
          live.known = Object.fromEntries(
            unwritten.filter((t) => live.rows![t] !== undefined).map((t) => [t, live.rows![t]!]),
          );
        }
      },
    ],
    [
      'unreplicate',
      async () => {
        const targetLeft = await removeReplication(ctx, move, source, target);
        if (targetLeft) throw new TenantctlError(`the target's subscription could not be removed: ${targetLeft}`);
      },
    ],
  ];
}

/**
 * Removes the move's replication objects from both servers: the subscription on the target,
 * then slot, publication and replication login on the source, replica identities back. Safe to
 * repeat, and to run for a move that made none. A target that does not answer keeps its
 * subscription (doctor lists it), the source's side is removed all the same: no slot is left
 * retaining WAL.
 */
export async function removeReplication(
  ctx: Context,
  move: MoveRow,
  source: ServerHandle,
  target: ServerHandle | Error,
): Promise<string | undefined> {
  const name = await replicationName(ctx, move);
  let targetLeft: string | undefined;
  if (target instanceof Error) targetLeft = errorMessage(target);
  else
    await capability(target)
      .unsubscribe(name, move.target_database)
      .catch((error: unknown) => {
        targetLeft = errorMessage(error);
      });
  await capability(source).unpublish(name, move.source_database, fullTablesOf(move));
  return targetLeft;
}
