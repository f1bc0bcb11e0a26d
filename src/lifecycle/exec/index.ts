// Writing across the fleet: an operator's SQL file or script on every selected tenant, as a recorded run (exec).
export { execFleet, countExecTenants } from './exec-fleet.js';
export type {
  ExecFleetOptions,
  ExecFleetResult,
  ExecTenantOutcome,
  ExecOutcomeKind,
  ExecTenantInfo,
} from './exec-types.js';
