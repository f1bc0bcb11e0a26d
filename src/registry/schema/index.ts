import type { Knex } from 'knex';
import * as initial from './001-initial.js';
import * as runs from './002-runs.js';
import * as backups from './003-backups.js';
import * as audit from './004-audit.js';
import * as servers from './005-servers.js';
import * as structuredState from './006-structured-state.js';
import * as secretRotation from './007-secret-rotation.js';
import * as backupOwner from './008-backup-owner.js';
import * as moves from './009-moves.js';
import * as rollouts from './010-rollouts.js';
import * as metadataIndex from './011-metadata-index.js';
import * as moveSecrets from './012-move-secrets.js';
import * as suspendedJobs from './013-suspended-jobs.js';
import * as serverIdentity from './014-server-identity.js';
import * as deletedBackups from './015-deleted-backups.js';
import * as serverTls from './017-server-tls.js';
import * as backupKeys from './018-backup-keys.js';
import * as schemaTemplates from './019-schema-templates.js';
import * as onlineMoves from './022-online-moves.js';
import * as structureCache from './023-structure-cache.js';

/** The registry's own migrations, in order. Names are stored; never rename one. */
const MIGRATIONS: ReadonlyArray<[string, Knex.Migration]> = [
  ['001-initial', initial],
  ['002-runs', runs],
  ['003-backups', backups],
  ['004-audit', audit],
  ['005-servers', servers],
  ['006-structured-state', structuredState],
  ['007-secret-rotation', secretRotation],
  ['008-backup-owner', backupOwner],
  ['009-moves', moves],
  ['010-rollouts', rollouts],
  ['011-metadata-index', metadataIndex],
  ['012-move-secrets', moveSecrets],
  ['013-suspended-jobs', suspendedJobs],
  ['014-server-identity', serverIdentity],
  ['015-deleted-backups', deletedBackups],
  ['017-server-tls', serverTls],
  ['018-backup-keys', backupKeys],
  ['019-schema-templates', schemaTemplates],
  ['022-online-moves', onlineMoves],
  ['023-structure-cache', structureCache],
];

export const LATEST_REGISTRY_MIGRATION = MIGRATIONS[MIGRATIONS.length - 1]![0];
export const REGISTRY_MIGRATION_COUNT = MIGRATIONS.length;

/** Serves the migrations compiled into tenantctl, so the registry needs no files on disk. */
export const registryMigrationSource: Knex.MigrationSource<[string, Knex.Migration]> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};

export const REGISTRY_MIGRATIONS_TABLE = 'tenantctl_migrations';
