/** Seeds on existing tenants: `tenantctl seed`. */
export {
  seedTenants,
  type SeedTenantsOptions,
  type SeedTenantsResult,
  type TenantSeedOutcome,
} from './seed-tenants.js';
