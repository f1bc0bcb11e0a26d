import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN, cleanEnv, type CliResult } from '../helpers/cli.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

interface Finding {
  kind: string;
  severity: string;
  target: { type: string; name?: string; slug?: string };
  tenant: string | null;
  message: string;
  fix: string;
}

/** The kinds by which doctor compares the registry with the servers' databases and users. */
const FLEET_KINDS = ['unregistered_database', 'orphan_database', 'orphan_user', 'missing_database', 'missing_user'];

/**
 * The registry disaster (#27 item 4): 10 tenants, a registry backup, 3 more created and 1
 * deleted, the registry lost and restored from that backup. Doctor names exactly those 4, and the
 * commands it suggests bring the fleet back.
 */
describe.skipIf(!reachable.includes('postgres'))('a registry restored from an older backup, on postgres', () => {
  const prefix = `dis${randomBytes(3).toString('hex')}`;
  let ws: Workspace;
  const databases: string[] = [];
  beforeAll(() => {
    ws = new Workspace('postgres', {
      env: { TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}_{slug}`, TENANTCTL_USER_NAME_TEMPLATE: `${prefix}_{slug}` },
    });
  });
  afterAll(async () => {
    for (const db of databases) await ws.probe.drop(db, db).catch(() => undefined);
    await ws.cleanup();
  });
  const create = async (slug: string) => {
    databases.push(`${prefix}_${slug}`);
    const created = await ws.run(['create', slug, '--no-seed']);
    expect(created.code, created.stderr).toBe(0);
  };
  const doctorFindings = async () => {
    const { data } = await ws.json(['doctor']);
    return (data.findings as Finding[]).filter((f) => FLEET_KINDS.includes(f.kind));
  };
  /** Runs a suggested command as the operator types it, the password on stdin where it asks. */
  const runFix = (fix: string, stdin: string): Promise<CliResult> => {
    const [command, ...args] = fix.split('  (')[0]!.trim().split(/\s+/);
    expect(command).toBe('tenantctl');
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd: ws.dir, env: cleanEnv(ws.env) });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      child.stdin.end(stdin);
    });
  };

  it('doctor names exactly the 3 tenants created and the 1 deleted since the backup; its commands bring the fleet back', async () => {
    const first = Array.from({ length: 10 }, (_, i) => `old${i}`);
    for (const slug of first) await create(slug);
    const backup = await ws.json(['registry', 'backup']);
    expect(backup.result.code, backup.result.stderr).toBe(0);

    const later = ['new0', 'new1', 'new2'];
    const passwords = new Map<string, string>();
    for (const slug of later) {
      await create(slug);
      passwords.set(slug, (await ws.json(['show', slug, '--show-password'])).data.password);
    }
    const gone = 'old3';
    expect((await ws.run(['delete', gone, '--yes', '--no-backup'])).code).toBe(0);

    // The registry is lost, and restored from the backup taken before those four changes.
    for (const suffix of ['', '-wal', '-shm'])
      rmSync(join(ws.dir, '.tenantctl', `registry.sqlite${suffix}`), { force: true });
    const restored = await ws.json(['registry', 'restore', '--from', backup.data.file, '--yes']);
    expect(restored.result.code, restored.result.stderr).toBe(0);

    const found = await doctorFindings();
    const named = (f: Finding) => f.target.name ?? f.target.slug ?? f.tenant;
    expect(
      found
        .filter((f) => f.kind === 'unregistered_database')
        .map(named)
        .sort(),
    ).toEqual(later.map((s) => `${prefix}_${s}`));
    // The deleted one is missing; nothing is an orphan (nothing to drop); nothing else is named.
    expect(found.filter((f) => f.kind.startsWith('orphan'))).toEqual([]);
    expect(new Set(found.filter((f) => f.kind.startsWith('missing')).map((f) => f.tenant))).toEqual(new Set([gone]));
    expect(new Set(found.map((f) => (f.kind.startsWith('missing') ? f.tenant : named(f))))).toEqual(
      new Set([...later.map((s) => `${prefix}_${s}`), gone]),
    );

    for (const f of found.filter((f) => f.kind === 'unregistered_database')) {
      const slug = later.find((s) => f.target.name === `${prefix}_${s}`)!;
      expect(f.fix).toBe(
        `tenantctl adopt ${slug} --server ${f.target.type === 'database' ? (f as any).target.server : ''} --database ${prefix}_${slug} --user ${prefix}_${slug} --password-stdin`,
      );
      const adopted = await runFix(f.fix, passwords.get(slug)!);
      expect(adopted.code, adopted.stderr).toBe(0);
    }
    const missing = found.find((f) => f.kind === 'missing_database')!;
    const deleteFix = /\(or: (tenantctl delete .*)\)$/.exec(missing.fix)?.[1];
    expect(deleteFix).toBe(`tenantctl delete ${gone} --yes --no-backup`);
    expect((await runFix(deleteFix!, '')).code).toBe(0);

    // Back: doctor finds nothing between registry and server, every tenant works.
    expect(await doctorFindings()).toEqual([]);
    const list = (await ws.json(['list'])).data as Array<{ slug: string; status: string }>;
    expect(
      list
        .filter((t) => t.status === 'active')
        .map((t) => t.slug)
        .sort(),
    ).toEqual([...first.filter((s) => s !== gone), ...later].sort());
    expect((await ws.run(['migrate-all'])).code).toBe(0);
    expect((await ws.run(['backup', '--all'])).code).toBe(0);
  }, 300_000);
});
