import type { Finding } from '../../lifecycle/doctor/index.js';

/**
 * The command an operator types to fix a doctor finding. Doctor reports what is wrong as data
 * (kind, target, the interrupted operation); which tenantctl command repairs it is the CLI's
 * business, so it is written here, next to the commands themselves.
 */
export function fixCommand(finding: Finding): string {
  const target = finding.target;
  const slug = finding.tenant ?? (target.type === 'tenant' ? target.slug : '');
  switch (finding.kind) {
    case 'server_unreachable': {
      const server = target.type === 'server' ? target.name : (finding.server ?? '');
      return `check the server, its address and credentials (tenantctl server show ${server}; tenantctl server update ${server} --url …)`;
    }
    case 'server_identity': {
      const server = target.type === 'server' ? target.name : (finding.server ?? '');
      return /registered once/.test(finding.message)
        ? `use the server's first name; forget this one: tenantctl server remove ${server}`
        : `if the server was replaced on purpose: tenantctl server update ${server} --accept-identity`;
    }
    case 'admin_privilege': {
      const server = target.type === 'server' ? target.name : (finding.server ?? '<server>');
      return `grant the admin what the finding names (what server add checks), or give another: tenantctl server update ${server} --url …`;
    }
    case 'orphan_database':
      return 'tenantctl doctor --fix --drop-orphans  (or adopt it: restore a backup into a new tenant)';
    case 'orphan_user':
      return 'tenantctl doctor --fix --drop-orphans';
    case 'unregistered_database': {
      const server = target.type === 'database' ? target.server : (finding.server ?? '');
      const database = target.type === 'database' ? target.name : '';
      const adopt = finding.adopt;
      const as = adopt?.slug ?? '<slug>';
      // Its own user keeps the application's password (which the lost registry rows held).
      const login = adopt?.user
        ? ` --user ${adopt.user} --password-stdin`
        : adopt?.createUser === false
          ? ''
          : ' --create-user';
      return `tenantctl adopt ${as} --server ${server} --database ${database}${login}`;
    }
    case 'unmarked_database':
      return /another registry/.test(finding.message)
        ? 'find out which registry the database belongs to: two registries claim it'
        : 'tenantctl doctor --fix';
    case 'foreign_database':
    case 'foreign_user':
      return "nothing: not this registry's";
    case 'missing_database':
      return `tenantctl restore ${slug} --force  (or: tenantctl delete ${slug} --yes --no-backup)`;
    case 'missing_user':
      return `tenantctl restore ${slug} --force --as ${slug}-restored  (then move the application)`;
    case 'suspended_can_login':
      return `tenantctl suspend ${slug}`;
    case 'active_locked_out':
      return `tenantctl reactivate ${slug}`;
    case 'dump_tool':
      // The driver's message ends with what to install (the package differs by engine and version).
      return /install .*$/.exec(finding.message)?.[0] ?? 'install the dump tool the message names';
    case 'interrupted_backup':
      return `tenantctl doctor --fix  (or the next: tenantctl backup ${finding.tenant ?? '--registry'})`;
    case 'failed_create':
      return `tenantctl create ${slug}  (retry)  or  tenantctl delete ${slug} --yes`;
    case 'failed_migration':
      return 'tenantctl migrate-all --retry-failed';
    case 'pending_migrations':
      return 'tenantctl migrate-all';
    case 'schema_drift':
      return 'tenantctl schema diff --sql (simple fixes printed; the rest by hand)';
    case 'no_backup':
    case 'stale_backup':
      return `tenantctl backup ${slug}`;
    case 'backup_space': {
      const directory = target.type === 'directory' ? target.path : 'the backup directory';
      return `free space in ${directory}, keep fewer backups (tenantctl backup --all --keep-days N), or set backupDir to a larger disk`;
    }
    case 'backup_store':
      return 'check backupStore, s3Endpoint and s3Region, and that the AWS credentials (environment, ~/.aws, role) may write the bucket';
    case 'leftover_upload':
      return 'tenantctl doctor --fix  (aborts the upload a killed backup left)';
    case 'backups_past_retention':
      return 'tenantctl backups prune --deleted  (or the next tenantctl backup --all)';
    case 'stale_password':
      return `tenantctl rotate-password ${slug}`;
    case 'tampered_migrations':
      return `inspect tenant ${slug}'s database (its knex_migrations was replaced: the tenant's own code or an attacker's); put back the table (from a backup: tenantctl restore ${slug} --force) before migrating it`;
    case 'password_login_fails':
      return `tenantctl rotate-password ${slug}  (sets a new password on the server and in the registry)`;
    case 'registry_exposed':
      // The driver's message ends with the statements that close it (they differ by engine).
      return /run: (.*)$/.exec(finding.message)?.[1] ?? 'close the registry database to other users of its server';
    case 'replication_leftover':
      return 'tenantctl doctor --fix  (removes it)';
    case 'stale_template':
      return 'tenantctl doctor --fix  (drops it; or tenantctl template build, which drops the stale ones of the server)';
    case 'credential_leftover':
      return 'tenantctl doctor --fix  (or the next backup or restore on this machine, which removes them)';
    case 'interrupted':
      if (target.type === 'key')
        return target.file
          ? `tenantctl rotate-key --generate  (finishes it with the new key kept in ${target.file})`
          : `tenantctl rotate-key --new-key-file <the file holding key ${target.fingerprint}>  (finishes it)`;
      return finishCommand(finding.operation, slug);
  }
}

function finishCommand(operation: string | undefined, slug: string): string {
  switch (operation) {
    case 'create':
      return `tenantctl create ${slug}  (finishes it)  or  tenantctl delete ${slug} --yes`;
    case 'adopt':
      return `tenantctl adopt ${slug}  (resumes it where it stopped)`;
    case 'delete':
      return `tenantctl delete ${slug} --yes  (finishes it)`;
    case 'suspend':
      return `tenantctl suspend ${slug}`;
    case 'reactivate':
      return `tenantctl reactivate ${slug}`;
    case 'rotate-password':
      return `tenantctl rotate-password ${slug}  (finishes it)`;
    case 'move':
      return `tenantctl move ${slug}  (finishes it, or rolls it back and moves afresh)`;
    default:
      return `tenantctl restore ${slug} --force`;
  }
}

/** Findings as `--json` prints them: each with the command that fixes it. */
export function withFixCommands<T extends { findings: Finding[] }>(
  result: T,
): Omit<T, 'findings'> & { findings: Array<Finding & { fix: string }> } {
  return { ...result, findings: result.findings.map((f) => ({ ...f, fix: fixCommand(f) })) };
}
