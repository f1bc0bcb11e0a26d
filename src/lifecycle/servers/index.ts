/** Servers: registering, listing, updating, draining and removing them; placing a tenant on one. */
export { addServer, type AddServerInput, type AddServerResult } from './add-server.js';
export { listServers, showServer, type ServerListing } from './list-servers.js';
export { updateServer, setServerDraining, type UpdateServerInput, type ServerChangeResult } from './update-server.js';
export { removeServer, type RemoveServerResult } from './remove-server.js';
export { placeTenant, withPlacementLock, type PlacementRequest, type Placement } from './place-tenant.js';
export type { ServerInfo, ServerHealth } from './server-info.js';
