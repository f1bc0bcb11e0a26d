// Reading across the fleet: one read-only statement on every selected tenant database (`tenantctl query`).
export {
  queryFleet,
  DEFAULT_QUERY_TIMEOUT_MS,
  type QueryFleetOptions,
  type QueryResult,
  type QueryOutcome,
  type QueryOutcomeKind,
  type TenantRows,
} from './query-fleet.js';
export type { FleetAggregate } from './aggregate.js';
export { assertSingleRead } from './read-statement.js';
