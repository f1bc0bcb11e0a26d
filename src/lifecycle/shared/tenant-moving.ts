import { ConflictError } from '../../core/errors.js';
import type { TenantRow } from '../../registry/tenants-repo.js';

/** A tenant's `step` while `move` works on it: `move:<step>`. */
export const MOVE_STEP_PREFIX = 'move:';

/** Whether a move is under way (or was interrupted) on this tenant, before its switch and unfence. */
export function isMoving(row: Pick<TenantRow, 'step'>): boolean {
  return row.step?.startsWith(MOVE_STEP_PREFIX) ?? false;
}

/** Other commands leave a moving tenant alone: its access is fenced and its copy in flux. */
export function assertNotMoving(row: Pick<TenantRow, 'slug' | 'step'>, what: string): void {
  if (isMoving(row)) {
    throw new ConflictError(
      `tenant "${row.slug}" is being moved (${row.step}): it cannot be ${what} now; run "tenantctl move ${row.slug}" to finish or roll back the move`,
    );
  }
}
