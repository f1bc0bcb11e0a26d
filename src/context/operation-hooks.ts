import type { ServerConnection, TenantLogin } from '../engines/engine-driver.js';

/**
 * Points where a caller may step into an operation while it runs: the test harness uses them to
 * stop an operation at a step boundary (so it can be killed there) and to damage a move's copy
 * (so verify must catch it). Operations call them and know nothing else about them; without
 * hooks (normal use) nothing happens. Each hook may be async: the operation waits for it.
 */
export interface OperationHooks {
  /**
   * Once a step is recorded and before it runs: a move's steps (`fence`, `copy`, `verify`,
   * `switch`, `unfence`, `retire`), and `suspend-job-disabled` after each scheduled job a suspend
   * disabled (recorded already), and `rotate-key-row` after each secret a key rotation
   * re-encrypted (a test slows the rotation down there, to kill it half-way); a create's steps
   * as `create-<step>` (`create-database`, `create-clone`, …), and `template-seal` once a schema
   * template's migrations ran, before it is sealed and marked ready.
   */
  atStep?(step: string): Promise<void>;
  /** A move's copy is restored on the target and locked, before it is verified. */
  afterCopy?(target: ServerConnection, login: TenantLogin): Promise<void>;
}
