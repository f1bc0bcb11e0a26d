import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, ServerHandle } from '../../context/context.js';
import { migrationFingerprint } from '../../tenant-schema/migration-fingerprint.js';
import { tenantProject } from '../../tenant-schema/tenant-project.js';

/** What a template is built for: a template whose key differs is stale. */
export interface TemplateKey {
  key: string;
  fingerprint: string;
  migrations: string[];
  serverVersion: string;
}

/**
 * The key of the template a server needs now: the migration fingerprint, every migration file's
 * content, the knexfile's content and environment, the migration table settings, whether tenants
 * have users of their own, and the server's version. Any change makes a new template.
 */
export async function templateKey(ctx: Context, server: ServerHandle): Promise<TemplateKey> {
  const project = await tenantProject(ctx);
  const migrations = project.source().list();
  const hash = createHash('sha256');
  const serverVersion = await server.version();
  hash.update(JSON.stringify([server.connection.driver.engine, serverVersion, ctx.config.tenantUsers]));
  hash.update(JSON.stringify([project.migrations, project.knexEnv]));
  for (const name of migrations) hash.update(name).update(readFileSync(join(project.migrationsDir, name)));
  if (project.knexfile) hash.update(readFileSync(project.knexfile));
  return { key: hash.digest('hex'), fingerprint: migrationFingerprint(migrations), migrations, serverVersion };
}
