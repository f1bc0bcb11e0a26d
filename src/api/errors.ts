import type { TenantStatus } from '../registry/tenants-repo.js';
import { ConflictError, NotFoundError, UnreachableError } from '../core/errors.js';

/** No such tenant in the registry, or it was deleted (an application answers 404). */
export class TenantNotFoundError extends NotFoundError {
  constructor(
    readonly slug: string,
    message = `no tenant "${slug}"`,
  ) {
    super(message);
    this.name = 'TenantNotFoundError';
  }
}

/** The tenant is suspended: its database refuses its user (an application answers 403). */
export class TenantSuspendedError extends ConflictError {
  constructor(
    readonly slug: string,
    readonly reason: string | null,
  ) {
    super(`tenant "${slug}" is suspended${reason ? `: ${reason}` : ''}`);
    this.name = 'TenantSuspendedError';
  }
}

/**
 * The tenant exists but cannot be served now: it is being created (`provisioning`), deleted
 * (`deleting`), or its creation failed (`failed`); or a move has fenced it (`reason`
 * `moving`: its login is refused until the move unfences it, or `tenantctl move` resolves an
 * interrupted one). An application answers 503 and retries later.
 */
export class TenantUnavailableError extends UnreachableError {
  constructor(
    readonly slug: string,
    readonly status: TenantStatus,
    readonly reason: 'moving' | null = null,
  ) {
    super(
      reason === 'moving'
        ? `tenant "${slug}" is not available: a move has fenced it (its login is refused until the move is done)`
        : `tenant "${slug}" is not available (${status})`,
    );
    this.name = 'TenantUnavailableError';
  }
}

/** No connection could be had within the budget in time: every connection is busy. */
export class ConnectionBudgetError extends UnreachableError {
  constructor(
    readonly maxConnections: number,
    readonly waitedMs: number,
    options?: ErrorOptions,
  ) {
    super(`no database connection free within ${waitedMs} ms (maxConnections ${maxConnections}, all in use)`, options);
    this.name = 'ConnectionBudgetError';
  }
}
