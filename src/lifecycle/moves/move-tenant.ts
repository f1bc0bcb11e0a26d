import { findBackupRow } from '../../registry/backups-repo.js';
import { plainBackup } from '../backups/backup-copy.js';
import type { Context, ServerHandle } from '../../context/context.js';
import { ConflictError, OperationError, errorMessage } from '../../core/errors.js';
import { isOutage } from '../shared/fleet-servers.js';
import { generatePassword, redact } from '../../core/secrets.js';
import { EXISTING_SLUG, validateSlug } from '../../core/slug.js';
import {
  findMoveRow,
  insertMoveRow,
  lastDoneMove,
  runningMove,
  updateMoveRow,
  type MoveRow,
  type MoveStep,
} from '../../registry/moves-repo.js';
import { findServerRow } from '../../registry/servers-repo.js';
import { now, updateTenantRow, type Tenant, type TenantRow } from '../../registry/tenants-repo.js';
import { backupTenant } from '../backups/backup-tenants.js';
import { loadTenantRow, reloadTenant } from '../shared/load-tenant.js';
import { planMove, type ModeRequest, type MovePlan } from './move-plan.js';
import { withPlacementLock } from '../servers/place-tenant.js';
import { verifyCopy, type VerifySummary } from './move-verify.js';
import { onlineSteps, removeReplication, type LiveCheck } from './online-steps.js';
import { MOVE_STEP_PREFIX } from '../shared/tenant-moving.js';
import { dropTenantDatabase } from '../shared/tenant-database.js';
import { withTenantLock } from '../shared/tenant-lock.js';
import { assertTenantCodeTrusted, restoreOwnPassword, tenantLogin, type LoginSource } from '../shared/tenant-login.js';
import { usersOf, dumpToolsFrom } from '../../engines/engine-driver.js';
import { tenantProject } from '../../tenant-schema/tenant-project.js';
import { adminSetupOf } from '../../tenant-schema/admin-setup.js';
import { UserConsole } from '../../tenant-schema/user-console.js';
import { runAdminSetup } from '../shared/admin-setup.js';

export interface MoveInput {
  slug: string;
  /** `--to`: the target server by name; default: placement chooses (never the tenant's own server). */
  to?: string;
  /** Keep the source database and user, locked, as the tenant's retired copy. */
  keepSource?: boolean;
  /** Say what would be done; change nothing. */
  dryRun?: boolean;
  /**
   * Move it only if it still lives on this server (by id) when its lock is taken (an evacuation's
   * list goes stale): otherwise MovedAwayError, and nothing is done.
   */
  onlyFrom?: number;
  /** `--offline`: fenced for the whole dump and restore, even where the source could move online. */
  offline?: boolean;
}

/** `move` with `onlyFrom`: the tenant is no longer on that server (moved, or deleted, meanwhile). */
export class MovedAwayError extends ConflictError {}

export interface MoveResult {
  slug: string;
  tenant: Tenant;
  source: string;
  target: string;
  /** Why the target, in one line. */
  placement: string;
  dryRun: boolean;
  /** What was planned (null when this run only finished an interrupted move). */
  plan: MovePlan | null;
  /** What this run did about a move an earlier run left unfinished: finished it, or rolled it back and moved afresh. */
  resumed: 'finished' | 'rolled_back' | null;
  /** The tenant was moved to that server already (by an earlier run): nothing was done. */
  alreadyDone: boolean;
  /** How it ran: online (replication, fenced for the last catch-up) or offline; null when nothing ran. */
  mode: 'online' | 'offline' | null;
  /** Fence to unfence: how long the tenant could not log in, in ms (null for a dry run). */
  downtimeMs: number | null;
  /** Each step's duration, in ms, in the order they ran. */
  steps: Partial<Record<MoveStep, number>>;
  backup: { id: number; file: string } | null;
  verified: VerifySummary | null;
  /** The source database and user were kept (locked) rather than dropped. */
  sourceKept: boolean;
  durationMs: number;
}

export type MoveProgress = (step: MoveStep | 'rollback') => void;

/**
 * Moves a tenant's database to another server of the same engine: preflight → fence (access
 * taken away on the source, as suspend does) → copy (a recorded backup, restored on the target
 * as the tenant's new user) → verify (rows, content checksums, migrations, sequences) → switch
 * (one registry update) → unfence (on the target, if the tenant was active) → retire the source.
 * Each step is recorded before it runs. A failure before the switch drops what the target got
 * and unfences the source; a move killed at any point is finished (switched already) or rolled
 * back and started afresh (not switched) by running it again.
 */
export async function moveTenant(ctx: Context, input: MoveInput, onStep: MoveProgress = () => {}): Promise<MoveResult> {
  const started = Date.now();
  const slug = validateSlug(input.slug, EXISTING_SLUG);
  await assertMovable(ctx, slug, input);
  await adminSetupOf(ctx); // a missing adminSetup is exit 2 before anything moves
  return withTenantLock(ctx, slug, async () => {
    const earlier = await settleEarlierMove(ctx, slug, input, onStep, started);
    if ('result' in earlier) return earlier.result;
    const { tenant, to, resumed } = earlier;
    if (input.dryRun) return dryResult(ctx, slug, await planMove(ctx, tenant, to, input), started);
    const recorded = await recordMove(ctx, tenant, to, Boolean(input.keepSource), input);
    const { steps, backup, verified } = await copyAndSwitch(ctx, recorded, onStep);
    const registry = await ctx.registry();
    const move = (await findMoveRow(registry.knex, recorded.move.id))!;
    const done = await finishMove(ctx, move, onStep);
    return {
      ...done,
      steps: { ...steps, ...done.steps },
      backup,
      verified,
      resumed,
      alreadyDone: false,
      mode: recorded.plan.mode,
      placement: recorded.plan.reason,
      dryRun: false,
      plan: recorded.plan,
      durationMs: Date.now() - started,
    };
  });
}

/** Before the lock: only an active or suspended tenant, in no other command's step, moves. */
async function assertMovable(ctx: Context, slug: string, input: MoveInput): Promise<void> {
  const row = await loadTenantRow(ctx, slug);
  if (row.status !== 'active' && row.status !== 'suspended') {
    const why = `tenant "${slug}" is ${row.status}: only an active or suspended tenant can be moved`;
    throw input.onlyFrom === undefined ? new ConflictError(why) : new MovedAwayError(why);
  }
  if (row.step && !row.step.startsWith(MOVE_STEP_PREFIX))
    throw new ConflictError(`tenant "${slug}" is in the middle of ${row.step}: finish that first`);
  if (!input.dryRun) await assertTenantCodeTrusted(ctx, [row], 'move');
}

/**
 * What an earlier run's unfinished move leaves this one: a result already (that move finished,
 * or a dry run of it), or the tenant to move afresh, and where to (an interrupted move, rolled
 * back, is started again to the same target).
 */
type EarlierMove =
  { result: MoveResult } | { tenant: TenantRow; to: string | undefined; resumed: MoveResult['resumed'] };

async function settleEarlierMove(
  ctx: Context,
  slug: string,
  input: MoveInput,
  onStep: MoveProgress,
  started: number,
): Promise<EarlierMove> {
  const registry = await ctx.registry();
  const tenant = await loadTenantRow(ctx, slug);
  const interrupted = await runningMove(registry.knex, tenant.id);
  if (!interrupted) {
    const done = input.to ? await alreadyMoved(ctx, tenant, input.to, started) : undefined;
    if (done) return { result: done };
    if (input.onlyFrom !== undefined && tenant.server_id !== input.onlyFrom) {
      const now = await findServerRow(registry.knex, { id: tenant.server_id });
      throw new MovedAwayError(`tenant "${slug}" was moved to server "${now?.name ?? tenant.server_id}" meanwhile`);
    }
    return { tenant, to: input.to, resumed: null };
  }
  const target = (await findServerRow(registry.knex, { id: interrupted.target_server_id }))!;
  if (input.to && input.to !== target.name)
    throw new ConflictError(
      `tenant "${slug}" has an unfinished move to server "${target.name}": run "tenantctl move ${slug}" to finish it first`,
    );
  if (input.dryRun)
    return { result: await dryResult(ctx, slug, await planMove(ctx, tenant, target.name, input), started) };
  if (tenant.server_id === interrupted.target_server_id) {
    // Switched already: the target is the verified copy; only unfence and retire remain.
    const done = await finishMove(ctx, interrupted, onStep);
    return {
      result: {
        ...done,
        placement: 'where the interrupted move was going',
        dryRun: false,
        plan: null,
        resumed: 'finished',
        alreadyDone: false,
        mode: interrupted.mode,
        backup: null,
        verified: null,
        durationMs: Date.now() - started,
      },
    };
  }
  await rollBack(ctx, interrupted, 'rolled_back', `interrupted at ${interrupted.step ?? 'start'}; rolled back`, onStep);
  return { tenant: await loadTenantRow(ctx, slug), to: target.name, resumed: 'rolled_back' };
}

/**
 * The tenant is on `to` already, brought there by its last move: that move is done, and running
 * it again says so (exit 0) rather than refusing `to` as the tenant's own server.
 */
async function alreadyMoved(
  ctx: Context,
  tenant: TenantRow,
  to: string,
  started: number,
): Promise<MoveResult | undefined> {
  const registry = await ctx.registry();
  const named = await findServerRow(registry.knex, { name: to });
  if (!named || named.id !== tenant.server_id) return undefined;
  const last = await lastDoneMove(registry.knex, tenant.id);
  if (!last || last.target_server_id !== tenant.server_id) return undefined;
  const source = await findServerRow(registry.knex, { id: last.source_server_id });
  return {
    slug: tenant.slug,
    tenant: await reloadTenant(ctx, tenant.slug),
    source: source?.name ?? String(last.source_server_id),
    target: named.name,
    placement: `moved there already (${last.finished_at ?? 'earlier'}): nothing to do`,
    dryRun: false,
    plan: null,
    resumed: null,
    alreadyDone: true,
    mode: last.mode,
    downtimeMs: null,
    steps: {},
    backup: null,
    verified: null,
    sourceKept: Boolean(last.keep_source),
    durationMs: Date.now() - started,
  };
}

/** A move recorded under way (at `preflight`): its plan, target, and the new user's password. */
interface RecordedMove {
  tenant: TenantRow;
  plan: MovePlan;
  move: MoveRow;
  target: ServerHandle;
  password: string | null;
}

/**
 * Chooses the target and records the move under way, as one step for the fleet (as for create):
 * moves running at once (an evacuation) count each other against a target's capacity.
 */
async function recordMove(
  ctx: Context,
  tenant: TenantRow,
  to: string | undefined,
  keepSource: boolean,
  request: ModeRequest,
): Promise<RecordedMove> {
  const registry = await ctx.registry();
  const { plan, moveId, target, password } = await withPlacementLock(ctx, async () => {
    const plan = await planMove(ctx, tenant, to, request);
    if (plan.problems.length)
      throw new ConflictError(
        `cannot move tenant "${tenant.slug}" to server "${plan.target}": ${plan.problems.join('; ')} (nothing was changed)`,
      );
    const target = await ctx.serverByName(plan.target);
    const password = plan.targetUser ? generatePassword() : null;
    const moveId = await ctx.withEncrypted(password, (encrypted) =>
      insertMoveRow(registry.knex, {
        tenant_id: tenant.id,
        slug: tenant.slug,
        status: 'running',
        step: 'preflight',
        was_status: tenant.status as 'active' | 'suspended',
        source_server_id: tenant.server_id,
        source_database: tenant.database_name,
        source_user: tenant.database_user,
        target_server_id: target.row.id,
        target_database: plan.targetDatabase,
        target_user: plan.targetUser,
        password_enc: encrypted,
        keep_source: keepSource,
        mode: plan.mode,
      }),
    );
    return { plan, moveId, target, password };
  });
  const move = (await findMoveRow(registry.knex, moveId))!;
  return { tenant, plan, move, target, password };
}

/** What the steps up to the switch found, for the result. */
interface Copied {
  steps: MoveResult['steps'];
  backup: MoveResult['backup'];
  verified: VerifySummary | null;
}

/**
 * Fence → copy → verify → switch, each recorded before it runs. A failure rolls the move back
 * (unless the switch did land) and throws, saying what became of the target's copy.
 */
async function copyAndSwitch(ctx: Context, recorded: RecordedMove, onStep: MoveProgress): Promise<Copied> {
  const { move, plan, password } = recorded;
  const copied: Copied = { steps: {}, backup: null, verified: null };
  for (const [step, action] of await stepsToSwitch(ctx, recorded, copied)) {
    try {
      await runStep(ctx, move, step, copied.steps, onStep, action);
    } catch (error) {
      if (step === 'switch' && (await loadTenantRow(ctx, move.slug)).server_id === move.target_server_id) break; // it did land
      const message = redact(errorMessage(error), [password ?? undefined]);
      const undone = await rollBack(ctx, move, 'failed', `${step}: ${message}`, onStep).then(
        ({ targetLeft }) => ({
          detail: targetLeft
            ? `the tenant stays on server "${plan.source}"; the target's copy could not be dropped (${targetLeft}): doctor lists it once server "${plan.target}" answers`
            : `the tenant stays on server "${plan.source}"; the target's copy was dropped`,
        }),
        (e: unknown) => ({ detail: `rollback incomplete, run move again to finish it: ${errorMessage(e)}` }),
      );
      throw new OperationError(move.slug, step, new Error(message), undone.detail);
    }
  }
  return copied;
}

/** The actions of the steps up to the switch; what they find goes into `copied`. */
async function stepsToSwitch(
  ctx: Context,
  { tenant, move, target, password }: RecordedMove,
  copied: Copied,
): Promise<Array<[MoveStep, () => Promise<void>]>> {
  const registry = await ctx.registry();
  const source = await ctx.server(tenant.server_id);
  // The source is read and the target filled as the tenant's user on each side (the target's
  // is the new one); each is borrowed while fenced or locked (see tenantLogin).
  const sourceLogin = tenantLogin(ctx, source, tenant);
  const targetLogin = tenantLogin(ctx, target, targetSource(move));
  const live: LiveCheck = { compared: false };
  const verify: [MoveStep, () => Promise<void>] = [
    'verify',
    async () => {
      const table = (await tenantProject(ctx)).table;
      copied.verified = await verifyCopy(source.connection, sourceLogin, target.connection, targetLogin, table, live);
    },
  ];
  const switchOver: [MoveStep, () => Promise<void>] = [
    'switch',
    async () => {
      await updateTenantRow(registry.knex, tenant.id, {
        server_id: move.target_server_id,
        database_name: move.target_database,
        database_user: move.target_user,
        password_enc: move.password_enc,
        step: `${MOVE_STEP_PREFIX}unfence`,
      });
    },
  ];
  if (move.mode === 'online')
    return [
      ...onlineSteps(ctx, { tenant, move, target, password, source, sourceLogin, targetLogin, live }),
      verify,
      switchOver,
    ];
  return [
    [
      'fence',
      async () => {
        await source.connection.suspendAccess(move.source_database, move.source_user);
        await updateMoveRow(registry.knex, move.id, { fenced_at: now() });
      },
    ],
    [
      'copy',
      async () => {
        const taken = await backupTenant(ctx, tenant);
        copied.backup = { id: taken.id, file: taken.file };
        await updateMoveRow(registry.knex, move.id, { backup_id: taken.id });
        await target.connection.createDatabase(move.target_database);
        await target.connection.markDatabase(move.target_database, await registry.mark());
        if (move.target_user)
          await usersOf(target.connection).createUser(move.target_user, password!, move.target_database);
        // What only the admin may do (an extension the dump names) is done on the target first.
        const setup = await adminSetupOf(ctx);
        if (setup) {
          const onTarget = { ...tenant, database: move.target_database, user: move.target_user };
          await new UserConsole().run(() => runAdminSetup(ctx, target.connection, onTarget, setup));
        }
        // The copy is read back from the store, checked whole (decrypted, checksummed) first.
        const plain = await plainBackup(ctx, (await findBackupRow(registry.knex, { id: taken.id }))!);
        if (typeof plain === 'string') throw new Error(`backup ${taken.file}: ${plain}`);
        try {
          await target.connection.restore(targetLogin, plain.file, dumpToolsFrom(ctx.config));
        } finally {
          plain.release();
        }
        await target.connection.markDatabase(move.target_database, await registry.mark()); // a source older than marks
        // The copy stays locked until the unfence: never two copies accepting logins.
        await target.connection.suspendAccess(move.target_database, move.target_user);
        await ctx.hooks?.afterCopy?.(target.connection, targetLogin);
      },
    ],
    verify,
    switchOver,
  ];
}

/** Records a step, runs it, and records how long it took (into `steps`). */
async function runStep(
  ctx: Context,
  move: MoveRow,
  step: MoveStep,
  steps: MoveResult['steps'],
  onStep: MoveProgress,
  action: () => Promise<void>,
): Promise<void> {
  const at = Date.now();
  onStep(step);
  await recordStep(ctx, move, step);
  await ctx.hooks?.atStep?.(step);
  await action();
  steps[step] = Date.now() - at;
  await updateMoveRow((await ctx.registry()).knex, move.id, { durations: JSON.stringify(steps) });
}

/** Records a step on the move and on the tenant (so other commands leave it alone) before it runs. */
async function recordStep(ctx: Context, move: MoveRow, step: MoveStep): Promise<void> {
  const registry = await ctx.registry();
  await updateMoveRow(registry.knex, move.id, { step });
  if (step !== 'retire' && step !== 'unfence')
    await updateTenantRow(registry.knex, move.tenant_id, { step: `${MOVE_STEP_PREFIX}${step}` });
}

/** After the switch: access back on the target (if the tenant was active), then the source retired. */
type Finished = Pick<MoveResult, 'slug' | 'tenant' | 'source' | 'target' | 'downtimeMs' | 'steps' | 'sourceKept'>;

async function finishMove(ctx: Context, move: MoveRow, onStep: MoveProgress): Promise<Finished> {
  const registry = await ctx.registry();
  const [source, target] = await Promise.all([ctx.server(move.source_server_id), ctx.server(move.target_server_id)]);
  const steps: MoveResult['steps'] = JSON.parse(move.durations ?? '{}');
  const run = async (step: MoveStep, action: () => Promise<void>) => {
    try {
      await runStep(ctx, move, step, steps, onStep, action);
    } catch (error) {
      await updateMoveRow(registry.knex, move.id, { error: `${step}: ${errorMessage(error)}` });
      await updateTenantRow(registry.knex, move.tenant_id, { last_error: `move: ${step}: ${errorMessage(error)}` });
      throw new OperationError(
        move.slug,
        step,
        error,
        'the tenant is switched to the target already; run move again to finish',
      );
    }
  };
  let unfencedAt = move.unfenced_at;
  if (move.step !== 'retire') {
    await run('unfence', async () => {
      if (move.was_status === 'active') await target.connection.resumeAccess(move.target_database, move.target_user);
      unfencedAt = now();
      await updateMoveRow(registry.knex, move.id, { unfenced_at: unfencedAt });
      await updateTenantRow(registry.knex, move.tenant_id, { step: null, last_error: null });
    });
  }
  await run('retire', async () => {
    if (move.keep_source) {
      await source.connection.suspendAccess(move.source_database, move.source_user);
      return;
    }
    const [problem] = await dropTenantDatabase(source.connection, move.source_database, move.source_user);
    if (problem) throw problem;
  });
  await updateMoveRow(registry.knex, move.id, {
    status: 'done',
    step: null,
    source_state: move.keep_source ? 'kept' : 'dropped',
    finished_at: now(),
    error: null,
  });
  const downtimeMs = move.fenced_at && unfencedAt ? Date.parse(unfencedAt) - Date.parse(move.fenced_at) : null;
  return {
    slug: move.slug,
    tenant: await reloadTenant(ctx, move.slug),
    source: source.row.name,
    target: target.row.name,
    downtimeMs,
    steps,
    sourceKept: Boolean(move.keep_source),
  };
}

/**
 * Undoes a move that has not switched: gives the source its access back if the tenant was active
 * (first: whatever became of the target, the tenant works again where it was), drops what the
 * target got, and records why. Safe to repeat. A target that stopped answering keeps its partial
 * copy, unreachable and locked to everyone but the move (its password is the move's alone): the
 * move is recorded failed with that, and `doctor` lists the copy as an orphan once the server
 * answers again. Any other failure throws, and the move stays recorded as running, so the next
 * `move` tries again.
 */
async function rollBack(
  ctx: Context,
  move: MoveRow,
  status: 'failed' | 'rolled_back',
  reason: string,
  onStep: MoveProgress,
): Promise<{ targetLeft?: string }> {
  onStep('rollback');
  const registry = await ctx.registry();
  const source = await ctx.server(move.source_server_id);
  if (move.was_status === 'active') {
    // A loan of the source's login a killed run left open must not outlive the fence.
    await restoreOwnPassword(ctx, source.connection, await loadTenantRow(ctx, move.slug));
    await source.connection.resumeAccess(move.source_database, move.source_user);
  }
  if (move.mode === 'online') {
    // The subscription first (a database with one cannot be dropped), then the source's slot.
    const target = await ctx.server(move.target_server_id).catch((error: unknown) => error as Error);
    await removeReplication(ctx, (await findMoveRow(registry.knex, move.id)) ?? move, source, target);
  }
  const [problem] = await ctx.server(move.target_server_id).then(
    (target) => dropTenantDatabase(target.connection, move.target_database, move.target_user),
    (error: unknown) => [error as Error],
  );
  const gone = problem && (isOutage(problem) || (await ctx.unansweredServer(move.target_server_id)));
  const targetLeft = gone ? errorMessage(problem) : undefined;
  if (problem && !targetLeft) {
    await updateMoveRow(registry.knex, move.id, { error: `${reason}; rollback: ${errorMessage(problem)}` });
    throw problem;
  }
  const recorded = targetLeft ? `${reason}; the target's copy could not be dropped: ${targetLeft}` : reason;
  await updateMoveRow(registry.knex, move.id, { status, step: null, error: recorded, finished_at: now() });
  await updateTenantRow(registry.knex, move.tenant_id, { step: null, last_error: `move: ${recorded}` });
  return { targetLeft };
}

/** The target's copy as a login: the new database and user, with the password the move recorded. */
function targetSource(move: MoveRow): LoginSource {
  return {
    slug: move.slug,
    database_name: move.target_database,
    database_user: move.target_user,
    password_enc: move.password_enc,
    status: 'active',
  };
}

async function dryResult(ctx: Context, slug: string, plan: MovePlan, started: number): Promise<MoveResult> {
  return {
    slug,
    tenant: await reloadTenant(ctx, slug),
    source: plan.source,
    target: plan.target,
    placement: plan.reason,
    dryRun: true,
    plan,
    resumed: null,
    alreadyDone: false,
    mode: plan.mode,
    downtimeMs: null,
    steps: {},
    backup: null,
    verified: null,
    sourceKept: false,
    durationMs: Date.now() - started,
  };
}
