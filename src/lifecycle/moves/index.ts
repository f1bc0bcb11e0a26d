/** Moves: a tenant to another server (planned, verified, resumable), a server evacuated, a retired source dropped. */
export { moveTenant, MovedAwayError, type MoveInput, type MoveResult, type MoveProgress } from './move-tenant.js';
export { planMove, type MovePlan } from './move-plan.js';
export { evacuateServer, type EvacuateOptions, type EvacuateResult, type EvacuateOutcome } from './evacuate-server.js';
export { dropRetiredSource, type DropSourceResult } from './drop-retired-source.js';
