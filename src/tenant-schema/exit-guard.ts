import { TenantctlError } from '../core/errors.js';

/** A migration or seed called process.exit(): that tenant fails, and tenantctl goes on. */
export class UserCodeExitError extends TenantctlError {}

let guarded = 0;
let realExit: typeof process.exit | undefined;

/**
 * Runs user code (migrations, seeds) where `process.exit()` cannot end tenantctl: while any such
 * code runs, process.exit throws a UserCodeExitError into the caller instead, which fails its
 * tenant. (The CLI's entry point keeps the real one for itself.) Restored when the last guarded
 * call settles; code abandoned at a deadline keeps the guard up, so it cannot exit later either.
 */
export async function withExitGuard<T>(fn: () => Promise<T>): Promise<T> {
  if (guarded++ === 0) {
    realExit = process.exit;
    process.exit = ((code?: number | string | null) => {
      throw new UserCodeExitError(
        `a migration or seed called process.exit(${code ?? ''}); tenantctl refuses to end there: that tenant fails`,
      );
    }) as typeof process.exit;
  }
  try {
    return await fn();
  } finally {
    if (--guarded === 0) process.exit = realExit!;
  }
}
