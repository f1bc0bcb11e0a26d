/** Doctor's look at the schema templates (README "Templates"): stale ones, and builds killed half-way. */
import type { Context } from '../../context/context.js';
import { LockedError } from '../../core/errors.js';
import { listTemplateRows } from '../../registry/templates-repo.js';
import { dropTemplateRow, templateLockName } from '../templates/build-template.js';
import { templateKey } from '../templates/template-key.js';
import type { FleetView } from './fleet-view.js';
import type { FindingList } from './findings.js';

/**
 * `stale_template` (a notice: create never copies one, it builds a current one): a ready template
 * whose key (migrations, knexfile, settings, server version) is no longer the project's, or a
 * `building` one no build is working on (killed half-way). `--fix` drops it, under the server's
 * template lock, so that no build running meanwhile loses its template.
 */
export async function templateFindings(ctx: Context, fleet: FleetView, list: FindingList): Promise<void> {
  for (const [id, handle] of fleet.handles) {
    const rows = await listTemplateRows(fleet.registry.knex, id);
    if (!rows.length) continue;
    const server = handle.row.name;
    const current = await templateKey(ctx, handle);
    const building = rows.some((r) => r.state === 'building');
    // Building rows are a killed build's only while no build holds the lock.
    const idle = building ? await fleet.registry.tryLock(templateLockName(id), 0) : undefined;
    await idle?.release();
    for (const row of rows) {
      const killed = row.state === 'building' && idle !== undefined;
      if (!killed && (row.state !== 'ready' || row.template_key === current.key)) continue;
      const why = killed
        ? 'its build was interrupted before it was complete'
        : row.server_version !== current.serverVersion
          ? `it was built on server version ${row.server_version}, the server is now ${current.serverVersion}`
          : row.migration_fingerprint !== current.fingerprint
            ? `it holds ${row.migrations} migration${row.migrations === 1 ? '' : 's'}, the project has ${current.migrations.length} (or they changed)`
            : 'the migration files, knexfile or settings changed since it was built';
      list.add(
        {
          kind: 'stale_template',
          target: { type: 'database', server, name: row.database_name },
          tenant: null,
          server,
          message: `schema template "${row.database_name}" on server "${server}" is stale: ${why}; create builds a current one, "template drop --stale" or doctor --fix drops it`,
          autoFix: true,
        },
        async () => {
          const lock = await fleet.registry.tryLock(templateLockName(id), 0);
          if (!lock) throw new LockedError(`another tenantctl is building the template of server "${server}"`);
          try {
            await dropTemplateRow(ctx, handle, row);
          } finally {
            await lock.release();
          }
        },
      );
    }
  }
}
