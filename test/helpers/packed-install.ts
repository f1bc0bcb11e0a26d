import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SQLITE_PACKAGE } from '../../src/engines/sqlite-native.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/**
 * An application's project with tenantctl installed from its packed tarball, as `npm install
 * tenantctl` lays it out: the project's own knex at `knexVersion` (npm does not dedupe it with
 * tenantctl's, which stays nested under tenantctl) and better-sqlite3 13 hoisted to the top. The
 * dependencies are installed once from the npm registry (`--ignore-scripts`, cached in the temp
 * directory per checkout and Node major); tenantctl itself is packed and unpacked afresh on every
 * call, so it is this checkout's build. Where better-sqlite3 must be built for this Node (the
 * Node 20 alias), the checkout's built copy is linked in. Returns the project directory.
 */
export function packedProject(knexVersion: string): string {
  const checkout = createHash('sha256').update(REPO).digest('hex').slice(0, 12);
  const project = join(
    tmpdir(),
    `tenantctl-test-packed-${knexVersion}-${checkout}-node${process.versions.node.split('.')[0]}`,
  );
  const tarball = pack();
  try {
    if (!existsSync(join(project, 'node_modules', 'knex', 'package.json'))) install(project, knexVersion, tarball);
    // This checkout's tenantctl, exactly as its tarball holds it.
    const installed = join(project, 'node_modules', 'tenantctl');
    for (const part of ['dist', 'bin']) rmSync(join(installed, part), { recursive: true, force: true });
    execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'], { stdio: 'pipe' });
  } finally {
    rmSync(tarball, { force: true });
  }
  linkBuiltDriver(project);
  return project;
}

/** `npm pack` of this checkout (dist as built), into a temporary file. */
function pack(): string {
  const into = mkdtempSync(join(tmpdir(), 'tenantctl-pack-'));
  const name = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', into], {
    cwd: REPO,
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .at(-1)!;
  const file = join(tmpdir(), `${name}-${process.pid}-${Date.now()}`);
  renameSync(join(into, name), file);
  rmSync(into, { recursive: true, force: true });
  return file;
}

function install(project: string, knexVersion: string, tarball: string): void {
  rmSync(project, { recursive: true, force: true });
  const staging = mkdtempSync(`${project}-`);
  const local = join(staging, 'tenantctl.tgz');
  execFileSync('cp', [tarball, local]);
  writeFileSync(
    join(staging, 'package.json'),
    JSON.stringify({
      name: 'app',
      private: true,
      dependencies: { knex: knexVersion, tenantctl: 'file:./tenantctl.tgz' },
    }),
  );
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'], {
    cwd: staging,
    stdio: 'pipe',
  });
  try {
    renameSync(staging, project);
  } catch {
    rmSync(staging, { recursive: true, force: true }); // another run got there first
  }
}

/** The SQLite driver tenantctl loads on this Node, built (installed without scripts it lacks a binary on Node 20). */
function linkBuiltDriver(project: string): void {
  if (SQLITE_PACKAGE === 'better-sqlite3') return; // prebuilt in its package
  const target = join(project, 'node_modules', SQLITE_PACKAGE);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(join(project, 'node_modules'), { recursive: true });
  symlinkSync(join(REPO, 'node_modules', SQLITE_PACKAGE), target, 'dir');
}
