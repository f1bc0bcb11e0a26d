/** Migrations across the fleet: migrate-all and rollback (with staged rollouts), status, recorded runs. */
export {
  migrateFleet,
  type MigrateFleetOptions,
  type MigrateFleetResult,
  type TenantMigrationOutcome,
} from './migrate-fleet.js';
export { migrationStatus, type MigrationStatusResult, type TenantMigrationStatus } from './migration-status.js';
export { listRuns, showRun, type RunSummary, type RunDetail, type RunTenantOutcome } from './list-runs.js';
