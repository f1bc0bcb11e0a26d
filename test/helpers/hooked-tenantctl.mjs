#!/usr/bin/env node
// tenantctl as bin/tenantctl starts it, plus the test harness's kill points: the built CLI's main()
// run with OperationHooks made from these variables (tenantctl itself reads none of them):
//
// - TENANTCTL_TEST_PAUSE_AT=<step>: once that step is recorded, prints `TENANTCTL_TEST_PAUSED <step>`
//   on stderr and waits, to be killed there, or for TENANTCTL_TEST_PAUSE_MS (default 10 minutes:
//   the test does something meanwhile), then goes on.
// - TENANTCTL_TEST_CORRUPT_TARGET=<table>: a move deletes the row with the highest id from the
//   target's copy after the restore; `<table>.<column>` changes that row's column instead (same
//   row count), so verify must catch it.
// - TENANTCTL_TEST_ROTATE_PAUSE_MS=<ms>: rotate-key waits that long after each secret it
//   re-encrypted, so a test can kill it half-way.
//
// test/helpers/cli.ts runs this file instead of bin/tenantctl when a test sets one of them.
import module from 'node:module';

// As in bin/tenantctl: kept before any code of tenantctl's or a project's runs.
const exit = process.exit.bind(process);

module.enableCompileCache?.();
const { main } = await import('../../dist/cli/main.js');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits at the step named by TENANTCTL_TEST_PAUSE_AT, and after each row of a slowed key rotation. */
async function atStep(step) {
  if (process.env.TENANTCTL_TEST_PAUSE_AT === step) {
    process.stderr.write(`TENANTCTL_TEST_PAUSED ${step}\n`);
    await sleep(Number(process.env.TENANTCTL_TEST_PAUSE_MS ?? 600_000));
  } else if (step === 'rotate-key-row') {
    const ms = Number(process.env.TENANTCTL_TEST_ROTATE_PAUSE_MS ?? 0) || 0;
    if (ms > 0) await sleep(ms);
  }
}

/** Damages the move's copy as TENANTCTL_TEST_CORRUPT_TARGET says. */
async function afterCopy(target, login) {
  const spec = process.env.TENANTCTL_TEST_CORRUPT_TARGET;
  if (!spec) return;
  const { withTenantKnex } = await import('../../dist/lifecycle/shared/tenant-database.js');
  const [table, column] = spec.split('.');
  await withTenantKnex(target, login, async (knex) => {
    const top = await knex(table).max({ id: 'id' }).first();
    if (column)
      await knex(table)
        .where({ id: top.id })
        .update({ [column]: 'corrupted by a test' });
    else await knex(table).where({ id: top.id }).delete();
  });
}

exit(await main(process.argv, { hooks: { atStep, afterCopy } }));
