/** What `doctor --fix` does with findings: runs each repairable one's repair, and records whether it worked. */
import type { Context } from '../../context/context.js';
import { TenantctlError, errorMessage } from '../../core/errors.js';
import { rotateTenantPassword } from '../secrets/rotate-password.js';
import { restoreOwnPassword } from '../shared/tenant-login.js';
import { createTenant } from '../tenants/create-tenant.js';
import { deleteTenant } from '../tenants/delete-tenant.js';
import { suspendTenant } from '../tenants/suspend-tenant.js';
import type { FleetView } from './fleet-view.js';
import type { Finding, FindingList } from './findings.js';
import { dropOrphan } from './orphan-drop.js';

/** Repairs every finding marked autoFix, one at a time; returns how many were repaired. */
export async function repairFindings(ctx: Context, fleet: FleetView, list: FindingList): Promise<number> {
  let fixed = 0;
  for (const finding of list.findings.filter((f) => f.autoFix)) {
    try {
      await (list.repairs.get(finding) ?? (() => repairByKind(ctx, finding, fleet)))();
      finding.fixed = true;
      fixed++;
    } catch (error) {
      finding.fixed = false;
      finding.fixError = errorMessage(error);
    }
  }
  return fixed;
}

/** The repair of a finding whose check left none of its own: by its kind and target. */
async function repairByKind(ctx: Context, finding: Finding, fleet: FleetView): Promise<void> {
  const target = finding.target;
  const row = target.type === 'tenant' ? fleet.rows.find((r) => r.slug === target.slug) : undefined;
  switch (finding.kind) {
    case 'suspended_can_login':
      if (row) {
        await suspendTenant(ctx, row.slug, row.status_reason ?? 'suspended');
        // Also what a loan a killed tenantctl left open needs: the account's own password back.
        await restoreOwnPassword(ctx, (await ctx.server(row.server_id)).connection, row);
      }
      return;
    case 'interrupted':
      if (row?.status === 'provisioning') await createTenant(ctx, { slug: row.slug });
      else if (row?.status === 'deleting') await deleteTenant(ctx, row.slug, { backup: true });
      else if (row?.step === 'suspend') await suspendTenant(ctx, row.slug, row.status_reason ?? 'suspended');
      else if (row?.password_pending_enc) await rotateTenantPassword(ctx, row.slug);
      return;
    case 'orphan_database':
    case 'orphan_user': {
      if (target.type !== 'database' && target.type !== 'user') break;
      const handle = fleet.handles.get(fleet.servers.find((s) => s.name === target.server)!.id)!;
      const { backup } = await dropOrphan(ctx, handle, target, fleet.identities);
      if (backup) finding.backup = backup;
      return;
    }
  }
  throw new TenantctlError('not repairable unattended');
}
