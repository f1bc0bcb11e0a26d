/**
 * Typed errors and the exit codes they map to. Core code throws these; only the CLI entry point
 * turns them into an exit code. The codes are a contract for scripts: see README.md.
 */
export const ExitCode = {
  ok: 0,
  /** An operation ran and failed (a migration threw, a dump tool failed, …). */
  failed: 1,
  /** Bad usage or input: an invalid slug, an unknown flag, a bad configuration value. */
  usage: 2,
  /** The named tenant is not in the registry. */
  notFound: 3,
  /** The tenant's state forbids it: the slug is taken, the database already exists, … */
  conflict: 4,
  /** A database server or the registry could not be reached. */
  unreachable: 5,
  /** Another tenantctl holds the lock this command needs. */
  locked: 6,
  /** This machine lacks what the command needs: a dump or restore tool missing or too old. */
  environment: 7,
  /** Stopped by SIGINT (Ctrl-C) or SIGTERM: what it finished is recorded; the rest was not started (or cut). */
  interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** What a database said about an error beyond its message (`detail`, `hint`, `constraint`, `code`…). */
export type ErrorDetail = Record<string, string>;

export class TenantctlError extends Error {
  /** Machine-readable error code, stable across releases (shown in --json output). */
  readonly code: string = 'failed';
  readonly exitCode: ExitCodeValue = ExitCode.failed;
  /** What the database said beyond the message, when it failed the operation (--json `error.detail`). */
  detail?: ErrorDetail;
}

export class UsageError extends TenantctlError {
  override readonly code = 'usage';
  override readonly exitCode = ExitCode.usage;
}

/**
 * The registry's secrets are under a key this process does not hold: the key was rotated and
 * this machine (or application) has not been given the new one, or it is another registry's key.
 */
export class RegistryKeyError extends UsageError {
  override name = 'RegistryKeyError';
}

export class NotFoundError extends TenantctlError {
  override readonly code = 'not_found';
  override readonly exitCode = ExitCode.notFound;
}

export class ConflictError extends TenantctlError {
  override readonly code = 'conflict';
  override readonly exitCode = ExitCode.conflict;
}

export class UnreachableError extends TenantctlError {
  override readonly code: string = 'unreachable';
  override readonly exitCode: ExitCodeValue = ExitCode.unreachable;
}

export class LockedError extends TenantctlError {
  override readonly code = 'locked';
  override readonly exitCode = ExitCode.locked;
}

/** A tool tenantctl runs is missing or unusable on this machine: install it, nothing else is wrong. */
export class EnvironmentError extends TenantctlError {
  override readonly code = 'environment';
  override readonly exitCode = ExitCode.environment;
}

/** The command was stopped by a signal before it could report (a second Ctrl-C cut it). */
export class InterruptedError extends TenantctlError {
  override readonly code = 'interrupted';
  override readonly exitCode = ExitCode.interrupted;
}

/** tenantctl itself is in a state it should never reach: a bug to report. */
export class InternalError extends TenantctlError {
  override readonly code = 'internal';
  override readonly exitCode = ExitCode.failed;
}

/**
 * A tenant's migration table is not a plain table (a view, a function-backed relation, a
 * sequence): someone replaced it. It is reported, never read, so nothing the tenant defined runs.
 */
export class TamperedTableError extends TenantctlError {
  override readonly code = 'tampered';
  constructor(
    readonly table: string,
    readonly database: string,
    readonly kind: string,
  ) {
    super(`the migration table ${table} of database "${database}" is ${kind}, not a plain table: tampered with`);
  }
}

/** A step of an operation on one tenant failed; carries the slug, the step and the cause. */
export class OperationError extends TenantctlError {
  override readonly code: string = 'operation_failed';
  override readonly exitCode: ExitCodeValue = ExitCode.failed;
  constructor(
    readonly slug: string,
    readonly step: string,
    cause: unknown,
    detail?: string,
  ) {
    super(`${slug}: ${step} failed: ${errorMessage(cause)}${detail ? ` (${detail})` : ''}`, { cause });
    // A step that failed for want of a tool is the machine's problem, and exits as such.
    if (cause instanceof EnvironmentError) {
      this.code = cause.code;
      this.exitCode = cause.exitCode;
    }
  }
}

/** The message of anything thrown, without a stack. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** True for the errors drivers raise when a server cannot be reached at all. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'EAI_AGAIN'].includes(code)
  );
}

/** Why a server could not be reached, in words an operator acts on. */
export type UnreachableReason =
  | 'connection refused'
  | 'timed out'
  | 'host not found'
  | 'TLS refused'
  | 'certificate rejected'
  | 'login refused'
  | 'unavailable'
  | IdentityProblem;

/**
 * Why a server that answers is still not used: it is a server already registered under another
 * name, a different server answers at its address, or it would not say who it is.
 */
export type IdentityProblem = 'registered twice' | 'identity changed' | 'identity unknown';

/**
 * A database server tenantctl needs did not answer, or refused the admin's login. Carries the
 * server's registry name and address, so fleet commands can name each unreachable server once.
 */
export class ServerUnreachableError extends UnreachableError {
  constructor(
    readonly server: string,
    readonly address: string,
    readonly reason: UnreachableReason,
    cause: unknown,
    /** What to say after the reason instead of the driver's message (a cause known, with its remedy). */
    detail?: string,
  ) {
    const after = detail ? `: ${detail}` : cause ? ` (${errorMessage(cause)})` : '';
    super(`server "${server}" (${address}) is unreachable: ${reason}${after}`, { cause });
  }
}

/**
 * A registered server that answers but is not used, because of what it says it is: the same
 * server as another registered name (`registered twice`), not the server that was registered
 * there (`identity changed`, until `server update <name> --accept-identity`), or none it could
 * tell (`identity unknown`). Exit 4. Fleet commands count it with the servers they could not
 * reach, so its tenants are left alone and the run goes on.
 */
export class ServerIdentityError extends ServerUnreachableError {
  override readonly code: string = 'conflict';
  override readonly exitCode: ExitCodeValue = ExitCode.conflict;
  constructor(server: string, address: string, problem: IdentityProblem, message: string, cause?: unknown) {
    super(server, address, problem, cause);
    this.message = message;
  }
}

/** The network part of why a connection failed; undefined when it was not the network. */
export function networkReason(error: unknown): UnreachableReason | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  const name = (error as { name?: unknown } | null)?.name;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  // Words, not substrings: a path in a message (`…/rel-timeouts/…`) is no timeout.
  if (code === 'ETIMEDOUT' || name === 'KnexTimeoutError' || /\b(timeout|timed out)\b/i.test(errorMessage(error)))
    return 'timed out';
  if (isConnectionError(error)) return 'unavailable';
  return undefined;
}
