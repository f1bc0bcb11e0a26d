/** Tenants: create, read, update, suspend and reactivate, delete; one tenant's stats. */
export {
  createTenant,
  CREATE_STEPS,
  type CreateTenantInput,
  type CreateTenantResult,
  type CreateProgress,
  type CreateStep,
} from './create-tenant.js';
export { deleteTenant, DELETE_STEPS, type DeleteOptions, type DeleteResult, type DeleteStep } from './delete-tenant.js';
export { updateTenant, type UpdateInput, type UpdateResult } from './update-tenant.js';
export { suspendTenant, reactivateTenant, disableScheduledJobs, type AccessChangeResult } from './suspend-tenant.js';
export { listTenants, showTenant, type TenantDetail } from './read-tenants.js';
export { tenantUrl, type TenantUrl } from './tenant-url.js';
export { tenantStats, type StatsResult, type StatsSort, type TenantStats } from './tenant-stats.js';
export {
  adoptTenant,
  ADOPT_STEPS,
  type AdoptTenantInput,
  type AdoptTenantResult,
  type AdoptStep,
} from './adopt-tenant.js';
export { abandonAdoption, type AbandonAdoptionResult } from './abandon-adoption.js';
export {
  adoptMatching,
  type AdoptMatchingInput,
  type AdoptMatchingResult,
  type AdoptCandidate,
} from './adopt-matching.js';
export {
  setupTenants,
  type SetupOptions,
  type SetupResult,
  type SetupOutcome,
  type SetupOutcomeKind,
} from './setup-tenants.js';
export {
  queryTenantList,
  tenantsCsv,
  parseCreatedAfter,
  LIST_SORTS,
  type ListSort,
  type TenantListQuery,
} from './tenant-list-query.js';
