import type { ServerConnection, TenantLogin } from '../../engines/engine-driver.js';
import { withTenantKnex } from '../shared/tenant-database.js';

/**
 * Hooks the move tests use to stop a move at a step boundary (so it can be killed there) and to
 * damage the target's copy (so verify must catch it). Unset in normal use: they do nothing.
 */

/**
 * `TENANTCTL_TEST_PAUSE_AT=<step>`: says so on stderr and waits once the step is recorded: to be
 * killed there, or for `TENANTCTL_TEST_PAUSE_MS` (a test does something meanwhile), then goes on.
 */
export async function pauseForTest(step: string): Promise<void> {
  if (process.env.TENANTCTL_TEST_PAUSE_AT !== step) return;
  process.stderr.write(`TENANTCTL_TEST_PAUSED ${step}\n`);
  const ms = Number(process.env.TENANTCTL_TEST_PAUSE_MS ?? 600_000);
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * `TENANTCTL_TEST_CORRUPT_TARGET=<table>` deletes the row with the highest id from the target's
 * copy after the restore; `<table>.<column>` changes that row's column instead (same row count).
 */
export async function corruptTargetForTest(target: ServerConnection, login: TenantLogin): Promise<void> {
  const spec = process.env.TENANTCTL_TEST_CORRUPT_TARGET;
  if (!spec) return;
  const [table, column] = spec.split('.') as [string, string | undefined];
  await withTenantKnex(target, login, async (knex) => {
    const top = (await knex(table).max({ id: 'id' }).first()) as { id: number };
    if (column)
      await knex(table)
        .where({ id: top.id })
        .update({ [column]: 'corrupted by a test' });
    else await knex(table).where({ id: top.id }).delete();
  });
}
