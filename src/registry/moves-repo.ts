import type { Knex } from 'knex';
import { now } from './tenants-repo.js';

const TABLE = 'tenantctl_moves';

/**
 * An offline move: preflight, fence, copy, verify, switch, unfence, retire. An online one:
 * preflight, schema (PostgreSQL) or snapshot (MySQL: schema and rows), replicate, catchup (the
 * tenant still working), compare (both copies' content at one point, the tenant still working),
 * fence, drain (the last changes applied, sequences set), unreplicate (replication objects
 * removed), verify, switch, unfence, retire.
 */
export const MOVE_STEPS = [
  'preflight',
  'schema',
  'snapshot',
  'replicate',
  'catchup',
  'compare',
  'fence',
  'drain',
  'unreplicate',
  'copy',
  'verify',
  'switch',
  'unfence',
  'retire',
] as const;
export type MoveStep = (typeof MOVE_STEPS)[number];
export type MoveStatus = 'running' | 'done' | 'failed' | 'rolled_back';

/**
 * The steps (recorded on the tenant as `move:<step>`) during which a move has the tenant's login
 * taken away: from the fence until the unfence is done (a move killed there leaves it so).
 */
const FENCED_STEPS = new Set(['fence', 'drain', 'unreplicate', 'copy', 'verify', 'switch', 'unfence']);

/** Whether a tenant's `step` says a move has fenced it (its login is refused). */
export function fencedByMove(tenantStep: string | null | undefined): boolean {
  return Boolean(tenantStep?.startsWith('move:') && FENCED_STEPS.has(tenantStep.slice('move:'.length)));
}

/** A move as the registry stores it, its password encrypted. Never rendered as is. */
export interface MoveRow {
  id: number;
  tenant_id: number;
  slug: string;
  status: MoveStatus;
  step: MoveStep | null;
  was_status: 'active' | 'suspended';
  source_server_id: number;
  source_database: string;
  source_user: string | null;
  target_server_id: number;
  target_database: string;
  target_user: string | null;
  password_enc: string | null;
  backup_id: number | null;
  keep_source: boolean | number;
  /** `online` (replication) or `offline` (dump and restore while fenced); null: recorded before online moves. */
  mode: 'online' | 'offline' | null;
  /** JSON list of the source's tables given a full replica identity for the move. */
  replica_full: string | null;
  source_state: 'kept' | 'dropped' | null;
  durations: string | null;
  started_at: string;
  fenced_at: string | null;
  unfenced_at: string | null;
  finished_at: string | null;
  error: string | null;
}

export type NewMoveRow = Omit<
  MoveRow,
  | 'id'
  | 'started_at'
  | 'fenced_at'
  | 'unfenced_at'
  | 'finished_at'
  | 'durations'
  | 'error'
  | 'source_state'
  | 'backup_id'
  | 'replica_full'
>;

export async function insertMoveRow(knex: Knex, row: NewMoveRow): Promise<number> {
  const [inserted] = await knex(TABLE).insert({ ...row, started_at: now() }, ['id']);
  return Number(typeof inserted === 'object' ? (inserted as { id: number }).id : inserted);
}

export async function updateMoveRow(knex: Knex, id: number, patch: Partial<Omit<MoveRow, 'id'>>): Promise<void> {
  await knex(TABLE).where({ id }).update(patch);
}

export async function findMoveRow(knex: Knex, id: number): Promise<MoveRow | undefined> {
  return knex<MoveRow>(TABLE).where({ id }).first();
}

/** The tenant's move under way (at most one), if any. */
export async function runningMove(knex: Knex, tenantId: number): Promise<MoveRow | undefined> {
  return knex<MoveRow>(TABLE).where({ tenant_id: tenantId, status: 'running' }).orderBy('id', 'desc').first();
}

/** The tenant's last move that finished, if any. */
export async function lastDoneMove(knex: Knex, tenantId: number): Promise<MoveRow | undefined> {
  return knex<MoveRow>(TABLE).where({ tenant_id: tenantId, status: 'done' }).orderBy('id', 'desc').first();
}

/** Every move recorded as under way (some may have been killed: their tenant's lock says which). */
export async function runningMoves(knex: Knex): Promise<MoveRow[]> {
  return knex<MoveRow>(TABLE).where({ status: 'running' }).orderBy('id');
}

/** The tenant's finished move whose source copy was kept (`--keep-source`) and not dropped yet. */
export async function keptSource(knex: Knex, tenantId: number): Promise<MoveRow | undefined> {
  return knex<MoveRow>(TABLE)
    .where({ tenant_id: tenantId, status: 'done', source_state: 'kept' })
    .orderBy('id', 'desc')
    .first();
}

/**
 * Databases and users that moves hold, by server id: retired copies kept by `--keep-source`, and
 * both sides of a move under way. Doctor counts them as the tenants', not as orphans.
 */
export async function databasesHeldByMoves(
  knex: Knex,
): Promise<Array<{ serverId: number; database: string; user: string | null }>> {
  const rows = await knex<MoveRow>(TABLE)
    .where({ status: 'running' })
    .orWhere({ status: 'done', source_state: 'kept' });
  return rows.flatMap((m) => [
    { serverId: m.source_server_id, database: m.source_database, user: m.source_user },
    ...(m.status === 'running'
      ? [{ serverId: m.target_server_id, database: m.target_database, user: m.target_user }]
      : []),
  ]);
}

/**
 * Tenants on their way to each server: moves under way whose tenant has not switched yet (once it
 * has, the tenant row counts on the target). Placement counts them, so that moves running at once
 * never take a server past its capacity.
 */
export async function incomingMovesByServer(knex: Knex): Promise<Map<number, number>> {
  const rows = (await knex(`${TABLE} as m`)
    .join('tenantctl_tenants as t', 't.id', 'm.tenant_id')
    .where('m.status', 'running')
    .whereRaw('?? <> ??', ['t.server_id', 'm.target_server_id'])
    .groupBy('m.target_server_id')
    .select('m.target_server_id as server')
    .count({ n: '*' })) as Array<{ server: number; n: number | string }>;
  return new Map(rows.map((r) => [Number(r.server), Number(r.n)]));
}
