/**
 * tenantctl as a library: what `import … from 'tenantctl'` gives an application. The CLI is a
 * user of the same operations (src/cli/commands/* call these functions and render their results).
 */

// Applications: tenants' databases through the registry, under one connection budget.
export { openFleet, Fleet, type FleetOptions, type FleetTenant, type FleetStats } from './api/open-fleet.js';
export type { ConnectionConfig } from './engines/engine-descriptor.js';
export {
  TenantNotFoundError,
  TenantSuspendedError,
  TenantUnavailableError,
  ConnectionBudgetError,
} from './api/errors.js';

// Operators' tooling: the lifecycle operations, returning data, with a context from a plain config.
export { createContext, withTenantctl, type TenantctlConfig, type ContextOptions } from './api/context.js';
export type { Context, ServerHandle } from './context/context.js';
export type { Config } from './config/config-keys.js';
export {
  createTenant,
  adoptTenant,
  adoptMatching,
  abandonAdoption,
  updateTenant,
  suspendTenant,
  reactivateTenant,
  deleteTenant,
  listTenants,
  showTenant,
  tenantStats,
  setupTenants,
  type SetupOptions,
  type SetupResult,
  type SetupOutcome,
  type CreateTenantInput,
  type CreateTenantResult,
  type CreateProgress,
  type AdoptTenantInput,
  type AdoptTenantResult,
  type AbandonAdoptionResult,
  type AdoptMatchingInput,
  type AdoptMatchingResult,
  type UpdateInput,
  type UpdateResult,
  type AccessChangeResult,
  type DeleteOptions,
  type DeleteResult,
  type TenantDetail,
  type StatsResult,
  type StatsSort,
  type TenantStats,
} from './lifecycle/tenants/index.js';
export {
  backupTenants,
  runBackups,
  listBackups,
  verifyBackups,
  restoreTenant,
  decryptBackup,
  type DecryptBackupInput,
  type DecryptBackupResult,
  type Backup,
  type BackupManyResult,
  type BackupOutcome,
  type RunBackupsInput,
  type RunBackupsResult,
  type VerifyOptions,
  type VerifyResult,
  type RestoreInput,
  type RestoreResult,
} from './lifecycle/backups/index.js';
export {
  migrateFleet,
  migrationStatus,
  listRuns,
  showRun,
  type MigrateFleetOptions,
  type MigrateFleetResult,
  type TenantMigrationOutcome,
  type MigrationStatusResult,
  type RunSummary,
  type RunDetail,
} from './lifecycle/migrations/index.js';
export {
  seedTenants,
  type SeedTenantsOptions,
  type SeedTenantsResult,
  type TenantSeedOutcome,
} from './lifecycle/seeds/index.js';
export {
  moveTenant,
  planMove,
  evacuateServer,
  dropRetiredSource,
  type MoveInput,
  type MoveResult,
  type MovePlan,
  type EvacuateOptions,
  type EvacuateResult,
  type DropSourceResult,
} from './lifecycle/moves/index.js';
export {
  addServer,
  listServers,
  showServer,
  updateServer,
  setServerDraining,
  removeServer,
  type AddServerInput,
  type AddServerResult,
  type ServerListing,
  type UpdateServerInput,
  type ServerChangeResult,
  type RemoveServerResult,
  type ServerInfo,
} from './lifecycle/servers/index.js';
export {
  rotateKey,
  rotatePasswords,
  type RotateKeyOptions,
  type RotateKeyResult,
  type RotatePasswordOptions,
  type RotatePasswordResult,
} from './lifecycle/secrets/index.js';
export {
  runDoctor,
  type DoctorOptions,
  type DoctorResult,
  type Finding,
  type TenantHealth,
  type HealthCheck,
} from './lifecycle/doctor/index.js';
export {
  queryFleet,
  type QueryFleetOptions,
  type QueryResult,
  type QueryOutcome,
  type QueryOutcomeKind,
  type TenantRows,
  type FleetAggregate,
} from './lifecycle/query/index.js';
export {
  execFleet,
  countExecTenants,
  type ExecFleetOptions,
  type ExecFleetResult,
  type ExecTenantOutcome,
  type ExecOutcomeKind,
  type ExecTenantInfo,
} from './lifecycle/exec/index.js';
export {
  schemaDiff,
  type SchemaDiffOptions,
  type SchemaDiffResult,
  type SchemaVariant,
  type StructureDifference,
} from './lifecycle/schema/index.js';
export {
  initRegistry,
  readAuditLog,
  recordAudit,
  type InitResult,
  type AuditEntry,
  type AuditRecord,
} from './lifecycle/registry/index.js';
export type { TenantSelection } from './lifecycle/shared/select-tenants.js';
export type { RunInterrupt } from './core/run-interrupt.js';
// What every fleet operation returns and reports as it runs.
export type { FleetRun, FleetProgress, UnreachableServer } from './core/fleet-run.js';
export type { Tenant, TenantStatus, TenantFilter } from './registry/tenants-repo.js';

// Errors every operation throws, with the exit code the CLI maps them to.
export {
  TenantctlError,
  UsageError,
  NotFoundError,
  ConflictError,
  UnreachableError,
  LockedError,
  OperationError,
  RegistryKeyError,
  ServerUnreachableError,
  ServerIdentityError,
  ExitCode,
} from './core/errors.js';
