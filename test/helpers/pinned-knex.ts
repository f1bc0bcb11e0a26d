import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SQLITE_PACKAGE } from '../../src/engines/sqlite-native.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A node_modules holding knex at `version`, installed once from the npm registry and cached in
 * the temp directory (shared by runs; installed beside it and renamed into place, so parallel
 * runs never see half an install), one per checkout and Node major. tenantctl's database drivers
 * are linked in, as a project would have its own. Returns the node_modules directory.
 */
export function pinnedKnexModules(version: string): string {
  // The drivers are links into this checkout's node_modules, and better-sqlite3's depends on the Node.
  const checkout = createHash('sha256').update(REPO).digest('hex').slice(0, 12);
  const cache = join(tmpdir(), `tenantctl-test-knex-${version}-${checkout}-node${process.versions.node.split('.')[0]}`);
  const modules = join(cache, 'node_modules');
  const linked = ['pg', 'mysql2', 'better-sqlite3'].every((driver) =>
    existsSync(join(modules, driver, 'package.json')),
  );
  if (existsSync(join(modules, 'knex', 'package.json')) && linked) return modules;
  rmSync(cache, { recursive: true, force: true }); // a cache whose links no longer resolve
  const staging = mkdtempSync(`${cache}-`);
  writeFileSync(join(staging, 'package.json'), '{"private":true}');
  execFileSync(
    'npm',
    ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', `knex@${version}`],
    { cwd: staging, stdio: 'pipe' },
  );
  // better-sqlite3 as a project on this Node would have it: the major that runs here.
  const packages: Record<string, string> = { pg: 'pg', mysql2: 'mysql2', 'better-sqlite3': SQLITE_PACKAGE };
  for (const [driver, pkg] of Object.entries(packages))
    symlinkSync(join(REPO, 'node_modules', pkg), join(staging, 'node_modules', driver), 'dir');
  try {
    renameSync(staging, cache);
  } catch {
    rmSync(staging, { recursive: true, force: true }); // another run got there first
  }
  return modules;
}
